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


def test_backbone_embeddings_have_one_row_per_image():
    pytest.importorskip("keras")
    from astrotune.evaluation.unsupervised import embed

    images = np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    embeddings = embed(images, "MobileNetV2", "none")
    assert embeddings.shape == (5, 1280) and np.isfinite(embeddings).all()
