"""Class balancing of the training set: balanced class weights, or random oversampling by index.

Balancing touches the training indices only, after the split: validation and test sets keep their
natural class proportions, and oversampling repeats indices instead of copying images.
"""

import numpy as np

BALANCING = ("class_weights", "oversample", "none")


def balanced_class_weights(labels, n_classes):
    """Balanced class weights (scikit-learn) for the classes present in ``labels``; 1 for the others."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)} | {
        c: 1.0 for c in range(n_classes) if c not in present}


def oversampled_indices(indices, labels, seed):
    """Training indices with minority classes repeated at random until every class is as large as the largest.

    Args:
        indices: row indices of the training images in the packed data set.
        labels: their labels (same length).
        seed: random state of imbalanced-learn's RandomOverSampler.

    Returns:
        int64 array of row indices (each original index at least once), in the sampler's order.
    """
    from imblearn.over_sampling import RandomOverSampler

    indices = np.asarray(indices, dtype=np.int64)
    sampled, _ = RandomOverSampler(random_state=seed).fit_resample(indices.reshape(-1, 1), np.asarray(labels))
    return sampled[:, 0]


def balancing_plan(indices, labels, n_classes, method, seed):
    """(training indices, class weights or None) for a balancing method of BALANCING."""
    if method not in BALANCING:
        raise ValueError(f"training.balancing: {method!r} is not one of {', '.join(BALANCING)}")
    if method == "oversample":
        return oversampled_indices(indices, labels, seed), None
    weights = balanced_class_weights(labels, n_classes) if method == "class_weights" else None
    return np.asarray(indices, dtype=np.int64), weights
