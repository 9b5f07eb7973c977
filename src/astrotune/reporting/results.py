"""Collect per-model metrics into one table of the study; pick each architecture's best model.

Columns say which split every number comes from: ``val_*`` on the validation set (the only set
anything is chosen on), ``test_*`` on the held-out test set (NaN when the study has none),
``*_tta`` with test-time augmentation, ``*_ci_low``/``*_ci_high`` the bootstrap confidence interval of
the plain accuracy, ``*_majority`` the accuracy of always predicting the subset's most common class.
``weights_origin`` says where the base's initial weights came from: ``imagenet``, ``random``,
``pretrained on <source>`` (domain pretraining) or ``file <path>``; ``cache`` whether the job trained
on its feature cache (``used``, ``refused: <reason>``, ``none (...)``, ``off (...)``).

A study with ``n_seeds`` > 1 trains every model (arch, layers) once per training seed: ``collect_metrics``
has one row per run, with its ``seed``. ``over_seeds`` makes one row per model: the per-run columns of the
study seed's run (its accuracies and bootstrap intervals), ``n_seeds`` and, over the model's seeds, the
mean and sample standard deviation of its validation and test accuracy (``*_seed_mean``, ``*_seed_std``).
Layers are chosen on the mean validation accuracy (with one seed: the run's own).
"""

import json

import numpy as np
import pandas as pd

COLUMNS = ["arch", "layers", "seed", "weights_origin", "trainable_params", "total_params", "total_layers", "best_epoch",
           "val_accuracy", "val_ci_low", "val_ci_high", "val_accuracy_tta", "val_macro_f1", "val_majority",
           "test_accuracy", "test_ci_low", "test_ci_high", "test_accuracy_tta", "test_balanced_accuracy",
           "test_macro_f1", "test_majority", "cache"]


def weights_origin(metrics):
    """Where a model's base weights came from: the metrics' ``weights_origin``, or for metrics written
    before it existed, read from ``weights`` (``imagenet``, ``none`` -> ``random``, a file)."""
    if metrics.get("weights_origin"):
        return metrics["weights_origin"]
    weights = metrics.get("weights")
    if weights in (None, ""):
        return "unknown"
    return {"imagenet": "imagenet", "none": "random"}.get(weights, f"file {weights}")


def majority_accuracy(subset_metrics):
    """Accuracy of always predicting the most common true class of a subset."""
    counts = np.asarray(subset_metrics["confusion_matrix"]).sum(axis=1)
    return float(counts.max() / counts.sum())


def _subset_columns(metrics, subset):
    plain, tta = metrics.get(subset), metrics.get(f"{subset}_tta")
    if plain is None:
        return {}
    interval = plain.get("accuracy_ci", {})
    return {f"{subset}_accuracy": plain["accuracy"], f"{subset}_ci_low": interval.get("ci_low", np.nan),
            f"{subset}_ci_high": interval.get("ci_high", np.nan),
            f"{subset}_accuracy_tta": tta["accuracy"] if tta else np.nan,
            f"{subset}_macro_f1": plain["macro"]["f1-score"], f"{subset}_majority": majority_accuracy(plain),
            f"{subset}_balanced_accuracy": plain["macro"]["recall"]}


def collect_metrics(paths):
    """One row per trained model from its metrics JSON, sorted by architecture and layers."""
    rows = []
    for path in paths:
        metrics = json.loads(open(path).read())
        rows.append({key: metrics.get(key, np.nan) for key in COLUMNS[:8]} | {"weights_origin": weights_origin(metrics),
                                                                              "cache": metrics.get("cache", "not recorded")}
                    | _subset_columns(metrics, "val") | _subset_columns(metrics, "test"))
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["arch", "layers", "seed"]).reset_index(drop=True)


def over_seeds(results):
    """One row per model (arch, layers), in the order of ``results`` (one row per run, a ``seed`` column
    when runs are told apart by seed): the study seed's run (the smallest seed: the others are seed+1,
    seed+2, ...) with ``n_seeds`` and the mean and standard deviation over seeds of val and test accuracy."""
    model = ["arch", "layers"]
    first = (results.sort_values("seed", kind="stable") if "seed" in results else results).drop_duplicates(model)
    averaged = [column for column in ("val_accuracy", "test_accuracy") if column in results]
    spread = results.groupby(model)[averaged].agg(["mean", "std"])
    spread.columns = [f"{column}_seed_{statistic}" for column, statistic in spread.columns]
    counts = results.groupby(model).size().rename("n_seeds")
    return first.sort_index().join(counts, on=model).join(spread, on=model).reset_index(drop=True)


def seeds_replicated(models):
    """Whether any model of an ``over_seeds`` frame trained with more than one seed."""
    return bool((models["n_seeds"] > 1).any())


def seed_columns(model, test, replicated):
    """A table's seed columns of an ``over_seeds`` row (empty dict: no model): ``n_seeds`` and, when the study
    has several seeds, ``run_seed`` (the seed of the run the row's per-run columns come from) and the mean and
    standard deviation over seeds of the validation (and with a test split, test) accuracy."""
    columns = {"n_seeds": model.get("n_seeds", pd.NA)}
    if replicated:
        columns["run_seed"] = model.get("seed", np.nan)
        columns |= {name: model.get(name, np.nan) for name in seed_statistics(test)}
    return columns


def seed_statistics(test):
    """Names of the mean and standard deviation over seeds of the validation (and test) accuracy."""
    return [f"{name}_seed_{statistic}" for name in ["val_accuracy"] + (["test_accuracy"] if test else [])
            for statistic in ("mean", "std")]


def select_best(results):
    """Each architecture's model (an ``over_seeds`` row) with the highest validation accuracy, averaged
    over its seeds (ties: fewest layers).

    Test numbers are carried along, never looked at: the choice is made on validation alone.
    """
    ranked = over_seeds(results).sort_values(["val_accuracy_seed_mean", "layers"], ascending=[False, True],
                                             kind="stable")
    return ranked.drop_duplicates("arch").set_index("arch")


def has_test_split(results):
    """True when the study held out a test set."""
    return bool(results["test_accuracy"].notna().any())


def accuracy_metrics(results):
    """The DVC metrics: validation accuracy of every model (the study seed's run) and, per architecture,
    the model chosen on validation with its validation and (when there is one) held-out test accuracy;
    with several seeds, also their number and the accuracies' mean and standard deviation over them."""
    models = over_seeds(results)
    validation = {arch: {f"L{row.layers}": row.val_accuracy for row in group.itertuples()}
                  for arch, group in models.groupby("arch")}
    test = has_test_split(results)
    columns = ["layers", "val_accuracy"] + (["test_accuracy", "test_accuracy_tta", "test_balanced_accuracy"]
                                            if test else [])
    if seeds_replicated(models):
        columns += ["n_seeds", *seed_statistics(test)]
    best = select_best(results)
    selected = {arch: {column: _plain(best.loc[arch, column]) for column in columns} for arch in best.index}
    return {"validation": validation, "selected_on_validation": selected, "cache": cache_counts(results)}


def cache_refused(results):
    """Per model, whether its feature cache was refused (it then trained the full model, 10-20x slower)."""
    return results["cache"].astype(str).str.startswith("refused")


def cache_counts(results):
    """How many jobs trained on their feature cache, had it refused, or had none."""
    used = int((results["cache"] == "used").sum())
    refused = int(cache_refused(results).sum())
    return {"used": used, "refused": refused, "other": len(results) - used - refused}


def _plain(value):
    return int(value) if isinstance(value, (np.integer, int)) else float(value)
