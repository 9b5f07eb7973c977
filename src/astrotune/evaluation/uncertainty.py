"""Seeded bootstrap uncertainty of accuracies, and which models cannot be told apart from the best.

Objects are resampled with replacement; the resampled index sets depend only on (seed, number of
objects), so every model and score evaluated on the same objects sees the same resamples (a paired
bootstrap). Intervals are percentile intervals. Scores: ``accuracy`` and ``balanced_accuracy`` (the mean
over the true classes present of each class's recall, as scikit-learn's ``balanced_accuracy_score``).
"""

import numpy as np
import pandas as pd

N_BOOTSTRAP = 2000
CONFIDENCE = 0.95
SCORES = ("accuracy", "balanced_accuracy")


def bootstrap_indices(n, n_bootstrap=N_BOOTSTRAP, seed=0):
    """(n_bootstrap, n) object indices drawn with replacement, fixed by (seed, n)."""
    return np.random.default_rng([seed, n]).integers(0, n, size=(n_bootstrap, n))


def accuracy_interval(true_labels, predicted_labels, n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE, seed=0):
    """Accuracy and its percentile bootstrap confidence interval over the objects.

    Returns:
        dict with accuracy, ci_low, ci_high, confidence, n_bootstrap, seed and method.
    """
    correct = np.asarray(true_labels) == np.asarray(predicted_labels)
    if correct.size == 0:
        raise ValueError("no objects to bootstrap")
    resampled = correct[bootstrap_indices(correct.size, n_bootstrap, seed)].mean(axis=1)
    return _percentile_interval("accuracy", correct.mean(), resampled, confidence, seed)


def balanced_accuracy_interval(true_labels, predicted_labels, n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE,
                               seed=0):
    """Balanced accuracy and its percentile bootstrap confidence interval over the objects, on the same
    resamples as :func:`accuracy_interval` with the same seed.

    Returns:
        dict with balanced_accuracy, ci_low, ci_high, confidence, n_bootstrap, seed and method.
    """
    from sklearn.metrics import balanced_accuracy_score  # here: the table and figure jobs import this module

    true_labels, predicted_labels = np.asarray(true_labels), np.asarray(predicted_labels)
    if true_labels.size == 0:
        raise ValueError("no objects to bootstrap")
    resampled = resampled_balanced_accuracy(true_labels, true_labels == predicted_labels,
                                            bootstrap_indices(true_labels.size, n_bootstrap, seed))
    return _percentile_interval("balanced_accuracy", balanced_accuracy_score(true_labels, predicted_labels),
                                resampled, confidence, seed)


def resampled_balanced_accuracy(true_labels, correct, indices):
    """Balanced accuracy of each resample (a row of object ``indices``): the mean, over the true classes
    present in it, of the share of that class's resampled objects that are ``correct``."""
    labels, hits = true_labels[indices], correct[indices]
    recalls = []
    for label in np.unique(true_labels):
        members = labels == label
        count = members.sum(axis=1)
        recalls.append(np.where(count > 0, (hits & members).sum(axis=1) / np.maximum(count, 1), np.nan))
    return np.nanmean(recalls, axis=0)


def _percentile_interval(score, value, resampled, confidence, seed):
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {score: float(value), "ci_low": float(low), "ci_high": float(high), "confidence": confidence,
            "n_bootstrap": len(resampled), "seed": seed, "method": "percentile bootstrap"}


def compare_to_best(correct_by_model, n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE, seed=0, labels=None):
    """Paired bootstrap of each model's score difference to the best-scoring model.

    Args:
        correct_by_model: dict name -> boolean array, whether each object was classified correctly;
            every array covers the same objects in the same order.
        labels: the objects' true classes: compare balanced accuracy; None: compare accuracy.

    Returns:
        DataFrame indexed by name, sorted by the score (column ``accuracy`` or ``balanced_accuracy``):
        the score, difference (best minus this model), diff_ci_low, diff_ci_high, p_value (share of
        resamples in which this model scores at least as high as the best; one-sided) and
        ``indistinguishable`` (True when the interval of the difference contains 0; always True for
        the best model itself).
    """
    names = list(correct_by_model)
    correct = np.array([np.asarray(correct_by_model[name], dtype=bool) for name in names])
    if correct.ndim != 2:
        raise ValueError("every model must be evaluated on the same objects")
    everything = np.arange(correct.shape[1])[None, :]
    score = np.array([_score(row, labels, everything)[0] for row in correct])
    best = int(np.argmax(score))
    indices = bootstrap_indices(correct.shape[1], n_bootstrap, seed)
    resampled = np.stack([_score(row, labels, indices) for row in correct])  # (models, n_bootstrap)
    differences = resampled[best] - resampled
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2], axis=1)
    name = "accuracy" if labels is None else "balanced_accuracy"
    table = pd.DataFrame({
        name: score,
        "difference": score[best] - score,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p_value": (differences <= 0).mean(axis=1),
        "indistinguishable": low <= 0,
    }, index=pd.Index(names, name="model"))
    return table.sort_values(name, ascending=False, kind="stable")


def _score(correct, labels, indices):
    """Accuracy (``labels`` None) or balanced accuracy of one model on each row of object ``indices``."""
    if labels is None:
        return correct[indices].mean(axis=1)
    return resampled_balanced_accuracy(np.asarray(labels), correct, indices)


def outcomes_by_object(predictions, subset):
    """DataFrame (indexed by object id, sorted) of each ``subset`` object's true ``label`` and whether it
    was ``correct`` (plain predictions, not test-time augmented)."""
    rows = predictions[(predictions["subset"] == subset) & (predictions["view"] == "plain")].sort_values("id")
    return pd.DataFrame({"label": rows["label"].to_numpy(), "correct": (rows["label"] == rows["predicted"]).to_numpy()},
                        index=rows["id"].to_numpy())


def compare_prediction_files(prediction_files, subset="val", n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE,
                             seed=0, score="accuracy"):
    """:func:`compare_to_best` over models' ``predictions.csv`` files (as written by train_model).

    Args:
        prediction_files: dict name (e.g. architecture) -> path of that model's predictions.csv.
        subset: ``val`` or ``test``.
        score: one of SCORES, what the models are compared on.

    Raises:
        ValueError: an unknown score, or the files do not cover the same objects (and labels) of ``subset``.
    """
    if score not in SCORES:
        raise ValueError(f"score {score!r} is not one of {', '.join(SCORES)}")
    outcomes = {name: outcomes_by_object(pd.read_csv(path, dtype={"id": str}), subset)
                for name, path in prediction_files.items()}
    reference = next(iter(outcomes.values()))
    for name, frame in outcomes.items():
        if not (frame.index.equals(reference.index) and frame["label"].equals(reference["label"])):
            raise ValueError(f"{prediction_files[name]}: its {subset} objects differ from "
                             f"{next(iter(prediction_files.values()))}")
    labels = reference["label"].to_numpy() if score == "balanced_accuracy" else None
    return compare_to_best({name: frame["correct"].to_numpy() for name, frame in outcomes.items()}, n_bootstrap,
                           confidence, seed, labels)
