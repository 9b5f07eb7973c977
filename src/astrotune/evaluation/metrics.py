"""Predictions of a trained model and their classification metrics (scikit-learn).

Every image is predicted twice: as it is (view ``plain``) and as the mean over its 8 dihedral
views (test-time augmentation, view ``tta``); metrics are reported per subset for both.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, roc_auc_score

VIEWS = ("plain", "tta")


def predictions_table(model, images, ids, labels, subset, class_names, view="plain", batch_size=64):
    """One row per image: id, subset, view, true and predicted label, and the class probabilities.

    Args:
        view: ``plain`` (the image as it is) or ``tta`` (mean over its 8 dihedral views).
    """
    from astrotune.models.augment import predict_tta

    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
    probabilities = (predict_tta(model, images, batch_size) if view == "tta"
                     else model.predict(images, batch_size=batch_size, verbose=0))
    table = pd.DataFrame({"id": ids, "subset": subset, "view": view, "label": labels,
                          "predicted": np.argmax(probabilities, axis=1)})
    for index, name in enumerate(class_names):
        table[f"p_{name}"] = probabilities[:, index]
    return table


def classification_metrics(true_labels, predicted_labels, class_names):
    """Accuracy, per-class and macro precision/recall/F1, and the confusion matrix."""
    labels = list(range(len(class_names)))
    report = classification_report(true_labels, predicted_labels, labels=labels, target_names=class_names,
                                   output_dict=True, zero_division=0)
    return {
        "n": int(len(true_labels)),
        "accuracy": float(accuracy_score(true_labels, predicted_labels)),
        "per_class": {name: report[name] for name in class_names},
        "macro": report["macro avg"],
        "confusion_matrix": confusion_matrix(true_labels, predicted_labels, labels=labels).tolist(),
        "class_names": list(class_names),
    }


def probability_metrics(true_labels, probabilities, top_k=3, epsilon=1e-7):
    """Metrics of the predicted class probabilities (N, n_classes).

    Returns:
        ``loss``: mean categorical cross-entropy (probabilities clipped to ``epsilon``, as Keras);
        ``top_k_accuracy`` with its ``top_k``; ``roc_auc``: one-vs-rest ROC AUC averaged over the
        classes with both positives and negatives in the subset (macro), NaN when none has;
        ``roc_auc_classes``: the classes it averages over (a subset may lack some classes).
    """
    true_labels = np.asarray(true_labels)
    probabilities = np.clip(np.asarray(probabilities, dtype=float), epsilon, 1 - epsilon)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    n_classes = probabilities.shape[1]
    k = min(top_k, n_classes)
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    scored = [c for c in range(n_classes) if 0 < np.sum(true_labels == c) < len(true_labels)]
    aucs = [roc_auc_score(true_labels == c, probabilities[:, c]) for c in scored]
    return {
        "loss": float(-np.mean(np.log(probabilities[np.arange(len(true_labels)), true_labels]))),
        "top_k": int(k),
        "top_k_accuracy": float(np.mean(np.any(top == true_labels[:, None], axis=1))),
        "roc_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "roc_auc_classes": scored,
    }


def _by_subset_and_view(predictions):
    """(key, rows) per subset and view: keys ``val``, ``test`` (plain) and ``val_tta``, ``test_tta``."""
    for (subset, view), rows in predictions.groupby(["subset", "view"]):
        yield (subset if view == "plain" else f"{subset}_{view}"), rows


def subset_metrics(predictions, class_names, top_k=3):
    """Metrics per subset and view of a predictions table (keys as in ``_by_subset_and_view``): the
    label metrics and the ``probability_metrics`` of its ``p_<class>`` columns."""
    columns = [f"p_{name}" for name in class_names]
    return {key: classification_metrics(rows["label"], rows["predicted"], class_names)
            | probability_metrics(rows["label"].to_numpy(), rows[columns].to_numpy(), top_k)
            for key, rows in _by_subset_and_view(predictions)}


def score_intervals(predictions, n_bootstrap, confidence, seed):
    """Bootstrap confidence intervals of the accuracy and the balanced accuracy per subset and view of a
    predictions table, both on the same resamples (one seed: a paired bootstrap).

    Returns:
        dict key -> {"accuracy_ci": :func:`astrotune.evaluation.uncertainty.accuracy_interval` result,
        "balanced_accuracy_ci": :func:`astrotune.evaluation.uncertainty.balanced_accuracy_interval` result}.
    """
    from astrotune.evaluation.uncertainty import accuracy_interval, balanced_accuracy_interval

    return {key: {f"{score}_ci": interval(rows["label"], rows["predicted"], n_bootstrap, confidence, seed)
                  for score, interval in (("accuracy", accuracy_interval),
                                          ("balanced_accuracy", balanced_accuracy_interval))}
            for key, rows in _by_subset_and_view(predictions)}
