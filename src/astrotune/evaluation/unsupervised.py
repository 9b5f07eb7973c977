"""Unsupervised baseline after Alberghi et al. (2024): backbone embeddings, PCA, k-means, Hungarian matching.

The paper embeds every image with DINO, keeps 95% of the variance with PCA, clusters with k-means
(k = number of classes) and scores the clusters after matching them one-to-one to the classes. Here the
embeddings are the average-pooled features of a zoo backbone (any keras.applications base).
"""

import numpy as np
import pandas as pd


def embedding_model(arch, input_shape, weights):
    """Input -> [Resizing to the base's minimum] -> ImageNet preprocessing -> base (average-pooled)."""
    import keras

    from astrotune.models.layers import ImagenetPreprocessing
    from astrotune.models.schedules import ARCHITECTURES
    from astrotune.models.zoo import build_base

    spec = ARCHITECTURES[arch]
    height, width, channels = input_shape
    base_shape = (max(height, spec.min_size), max(width, spec.min_size), channels)
    base = build_base(arch, base_shape, weights)
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if base_shape != tuple(input_shape):
        x = keras.layers.Resizing(base_shape[0], base_shape[1])(x)
    if spec.preprocessing != "none":
        x = ImagenetPreprocessing(spec.preprocessing)(x)
    return keras.Model(inputs, base(x, training=False), name=f"{arch}_embedding")


def embed(images, arch, weights, batch_size=64):
    """(N, D) average-pooled backbone features of (N, H, W, 3) uint8 images.

    ``images`` is an array or an open h5py dataset: it is read ``batch_size`` rows at a time, so a
    packed Galaxy10 set is never held whole in memory.
    """
    model = embedding_model(arch, images.shape[1:], weights)
    return np.concatenate([np.asarray(model.predict_on_batch(np.asarray(images[start:start + batch_size])),
                                      dtype=np.float64)
                           for start in range(0, len(images), batch_size)])


def hungarian_accuracy(labels, clusters, n_classes):
    """Accuracy after the one-to-one cluster-to-class matching that maximises it.

    Returns:
        (accuracy, mapping) where mapping[cluster] = class.
    """
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = dict(zip(rows.tolist(), cols.tolist()))
    return counts[rows, cols].sum() / len(labels), mapping


def cluster_embeddings(embeddings, labels, n_classes, variance=0.95, n_init=10, seed=0):
    """PCA keeping ``variance`` of the variance, then k-means with k = ``n_classes``, scored by Hungarian matching.

    Embeddings are standardised per dimension first (constant dimensions are dropped), so that the
    PCA does not depend on the units of individual features.

    Returns:
        dict with n_objects, embedding_dim, n_components, explained_variance, accuracy, roc_auc
        (macro one-vs-rest of the matched one-hot assignments, as the paper's benchmark row),
        predicted (matched class per object) and mapping.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    varying = embeddings.std(axis=0) > 0
    if varying.sum() == 0:
        raise ValueError("every embedding is identical; nothing to cluster")
    scaled = StandardScaler().fit_transform(embeddings[:, varying])
    pca = PCA(n_components=variance, svd_solver="full", random_state=seed).fit(scaled)
    reduced = pca.transform(scaled)
    clusters = KMeans(n_clusters=n_classes, n_init=n_init, random_state=seed).fit_predict(reduced)
    accuracy, mapping = hungarian_accuracy(labels, clusters, n_classes)
    predicted = np.array([mapping[c] for c in clusters])
    aucs = [roc_auc_score(labels == c, predicted == c)
            for c in range(n_classes) if 0 < (labels == c).sum() < len(labels)]
    roc_auc = float(np.mean(aucs)) if aucs else float("nan")
    return {
        "n_objects": int(len(labels)),
        "embedding_dim": int(embeddings.shape[1]),
        "n_components": int(pca.n_components_),
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
        "accuracy": float(accuracy),
        "roc_auc": roc_auc,
        "predicted": predicted,
        "mapping": {int(k): int(v) for k, v in mapping.items()},
    }


def benchmark_row(result, backbone, weights, interval):
    """The paper's benchmark row (model, accuracy, ROC AUC) plus the CI and the PCA size, as a one-row table."""
    return pd.DataFrame([{
        "model": f"{backbone} ({weights} weights) + k-means",
        "objects": result["n_objects"],
        "accuracy": round(result["accuracy"], 4),
        "accuracy_ci": f"{interval['ci_low']:.3f}-{interval['ci_high']:.3f}",
        "roc_auc": round(result["roc_auc"], 3),
        "embedding_dim": result["embedding_dim"],
        "pca_components": result["n_components"],
        "explained_variance": round(result["explained_variance"], 3),
    }])
