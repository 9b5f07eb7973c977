"""Balancing of the training set: oversampling by index, class weights, nothing else touched."""

import numpy as np
import pytest

from astrotune.data.balance import balanced_class_weights, balancing_plan, oversampled_indices
from astrotune.data.split import stratified_split


@pytest.fixture
def split():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    ids = [f"obj{i:03d}" for i in range(len(labels))]
    frame = stratified_split(ids, labels, val_fraction=0.2, test_fraction=0.2, seed=3)
    subset = dict(zip(frame["id"], frame["subset"]))
    rows = {name: np.array([i for i, object_id in enumerate(ids) if subset[object_id] == name])
            for name in ("train", "val", "test")}
    return labels, rows


def test_oversampling_leaks_nothing_and_balances_the_training_classes(split):
    labels, rows = split
    sampled = oversampled_indices(rows["train"], labels[rows["train"]], seed=5)
    assert set(sampled) == set(rows["train"])  # every training image, and only training images
    assert not set(sampled) & (set(rows["val"]) | set(rows["test"]))
    counts = np.bincount(labels[sampled])
    assert counts.min() == counts.max() == np.bincount(labels[rows["train"]]).max()


def test_oversampling_is_seeded(split):
    labels, rows = split
    first = oversampled_indices(rows["train"], labels[rows["train"]], seed=5)
    assert np.array_equal(first, oversampled_indices(rows["train"], labels[rows["train"]], seed=5))
    assert not np.array_equal(first, oversampled_indices(rows["train"], labels[rows["train"]], seed=6))


def test_balancing_plans(split):
    labels, rows = split
    train_labels = labels[rows["train"]]
    indices, weights = balancing_plan(rows["train"], train_labels, 3, "class_weights", seed=0)
    assert np.array_equal(indices, rows["train"]) and weights == balanced_class_weights(train_labels, 3)
    assert weights[2] > weights[1] > weights[0]
    indices, weights = balancing_plan(rows["train"], train_labels, 3, "none", seed=0)
    assert np.array_equal(indices, rows["train"]) and weights is None
    indices, weights = balancing_plan(rows["train"], train_labels, 3, "oversample", seed=0)
    assert weights is None and len(indices) == 3 * np.bincount(train_labels).max()
    with pytest.raises(ValueError, match="training.balancing"):
        balancing_plan(rows["train"], train_labels, 3, "smote", seed=0)
