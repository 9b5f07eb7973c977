"""Seeded bootstrap uncertainty of accuracies, and which models cannot be told apart from the best.

Objects are resampled with replacement; the resampled index sets depend only on (seed, number of
objects), so every model evaluated on the same objects sees the same resamples (a paired bootstrap).
Intervals are percentile intervals.
"""

import numpy as np
import pandas as pd

N_BOOTSTRAP = 2000
CONFIDENCE = 0.95


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
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"accuracy": float(correct.mean()), "ci_low": float(low), "ci_high": float(high),
            "confidence": confidence, "n_bootstrap": n_bootstrap, "seed": seed, "method": "percentile bootstrap"}


def compare_to_best(correct_by_model, n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE, seed=0):
    """Paired bootstrap of each model's accuracy difference to the most accurate model.

    Args:
        correct_by_model: dict name -> boolean array, whether each object was classified correctly;
            every array covers the same objects in the same order.

    Returns:
        DataFrame indexed by name, sorted by accuracy: accuracy, difference (best minus this model),
        diff_ci_low, diff_ci_high, p_value (share of resamples in which this model is at least as
        accurate as the best; one-sided) and ``indistinguishable`` (True when the interval of the
        difference contains 0; always True for the best model itself).
    """
    names = list(correct_by_model)
    correct = np.array([np.asarray(correct_by_model[name], dtype=bool) for name in names])
    if correct.ndim != 2:
        raise ValueError("every model must be evaluated on the same objects")
    accuracy = correct.mean(axis=1)
    best = int(np.argmax(accuracy))
    indices = bootstrap_indices(correct.shape[1], n_bootstrap, seed)
    resampled = np.stack([row[indices].mean(axis=1) for row in correct])  # (models, n_bootstrap)
    differences = resampled[best] - resampled
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2], axis=1)
    table = pd.DataFrame({
        "accuracy": accuracy,
        "difference": accuracy[best] - accuracy,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p_value": (differences <= 0).mean(axis=1),
        "indistinguishable": low <= 0,
    }, index=pd.Index(names, name="model"))
    return table.sort_values("accuracy", ascending=False, kind="stable")


def correct_by_object(predictions, subset):
    """Boolean Series (indexed by object id, sorted) of whether each object of ``subset`` was right
    (plain predictions, not test-time augmented)."""
    rows = predictions[(predictions["subset"] == subset) & (predictions["view"] == "plain")].sort_values("id")
    return pd.Series((rows["label"] == rows["predicted"]).to_numpy(), index=rows["id"].to_numpy())


def compare_prediction_files(prediction_files, subset="val", n_bootstrap=N_BOOTSTRAP, confidence=CONFIDENCE,
                             seed=0):
    """:func:`compare_to_best` over models' ``predictions.csv`` files (as written by train_model).

    Args:
        prediction_files: dict name (e.g. architecture) -> path of that model's predictions.csv.
        subset: ``val`` or ``test``.

    Raises:
        ValueError: the files do not cover the same objects of ``subset``.
    """
    correct = {name: correct_by_object(pd.read_csv(path, dtype={"id": str}), subset)
               for name, path in prediction_files.items()}
    reference = next(iter(correct.values())).index
    for name, series in correct.items():
        if not series.index.equals(reference):
            raise ValueError(f"{prediction_files[name]}: its {subset} objects differ from "
                             f"{next(iter(prediction_files.values()))}")
    return compare_to_best({name: series.to_numpy() for name, series in correct.items()}, n_bootstrap,
                           confidence, seed)
