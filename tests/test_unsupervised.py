"""Unsupervised baseline: PCA + k-means + Hungarian matching recovers separable classes."""

import numpy as np
import pytest

from astrotune.evaluation.unsupervised import benchmark_row, cluster_embeddings, hungarian_accuracy


def test_hungarian_matching_ignores_cluster_numbering():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    accuracy, mapping = hungarian_accuracy(labels, np.array([2, 2, 0, 0, 1, 1, 0]), 3)
    assert accuracy == pytest.approx(6 / 7) and mapping == {2: 0, 0: 1, 1: 2}


def test_separable_blobs_are_recovered_with_fewer_components():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    centres = rng.normal(0, 10, size=(3, 4)) @ rng.normal(size=(4, 64))  # classes differ in a 4-D subspace
    embeddings = centres[labels] + rng.normal(0, 0.5, size=(120, 64))
    result = cluster_embeddings(embeddings, labels, 3, variance=0.95, seed=1)
    assert result["accuracy"] == 1.0 and result["roc_auc"] == 1.0
    assert result["n_components"] < 64 and result["explained_variance"] >= 0.95
    again = cluster_embeddings(embeddings[::-1], labels[::-1], 3, variance=0.95, seed=1)
    assert np.array_equal(again["predicted"][::-1], result["predicted"])
    row = benchmark_row(result, "MobileNetV2", "none", {"ci_low": 0.97, "ci_high": 1.0})
    assert row.loc[0, "pca_components"] == result["n_components"]


def test_backbone_embeddings_read_a_packed_file_in_batches(tmp_path):
    """One row per image, the same from an array as from the packed HDF5 file, which is read a batch at a time."""
    keras = pytest.importorskip("keras")
    import h5py

    from astrotune.evaluation.unsupervised import embed

    images = np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    keras.utils.set_random_seed(0)
    embeddings = embed(images, "MobileNetV2", "none")
    assert embeddings.shape == (5, 1280) and np.isfinite(embeddings).all()

    class Recorded:
        """An h5py dataset that records the rows each read asks for."""

        def __init__(self, dataset):
            self.dataset, self.shape, self.reads = dataset, dataset.shape, []

        def __len__(self):
            return len(self.dataset)

        def __getitem__(self, rows):
            self.reads.append(len(range(*rows.indices(len(self.dataset)))))
            return self.dataset[rows]

    with h5py.File(tmp_path / "packed.h5", "w") as h5:
        h5["images"] = images
    with h5py.File(tmp_path / "packed.h5", "r") as h5:
        packed = Recorded(h5["images"])
        keras.utils.set_random_seed(0)
        np.testing.assert_allclose(embed(packed, "MobileNetV2", "none", batch_size=2), embeddings, atol=1e-5)
    assert packed.reads == [2, 2, 1]
