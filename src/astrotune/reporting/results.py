"""Collect per-model metrics into one table of the study; pick each architecture's best model.

Columns say which split every number comes from: ``val_*`` on the validation set (the only set
anything is chosen on), ``test_*`` on the held-out test set (NaN when the study has none),
``*_tta`` with test-time augmentation, ``*_ci_low``/``*_ci_high`` the bootstrap confidence interval of
the plain accuracy, ``*_balanced_accuracy`` the mean recall over the classes with its interval
``*_balanced_ci_low``/``*_balanced_ci_high`` (NaN in metrics written before it was recorded),
``*_majority`` the accuracy of always predicting the subset's most common class.
``weights_origin`` says where the base's initial weights came from: ``imagenet``, ``random``,
``pretrained on <source>`` (domain pretraining) or ``file <path>``; ``cache`` whether the job trained
on its feature cache (``used``, ``refused: <reason>``, ``none (...)``, ``off (...)``).

A study with ``n_seeds`` > 1 trains every model (arch, layers) once per training seed: ``collect_metrics``
has one row per run, with its ``seed``. ``over_seeds`` makes one row per model: the per-run columns of the
study seed's run (its accuracies and bootstrap intervals), ``n_seeds`` and, over the model's seeds, the
mean and sample standard deviation of its validation and test accuracy and balanced accuracy
(``*_seed_mean``, ``*_seed_std``). Layers are chosen on the mean validation score of the config's
``tables.selection_metric`` (accuracy or balanced_accuracy; with one seed: the run's own); ties: fewest layers.
"""

import json

import numpy as np
import pandas as pd

from astrotune.evaluation.uncertainty import SCORES as SELECTION_METRICS

COLUMNS = ["arch", "layers", "seed", "weights_origin", "trainable_params", "total_params", "total_layers", "best_epoch",
           "val_accuracy", "val_ci_low", "val_ci_high", "val_accuracy_tta", "val_balanced_accuracy",
           "val_balanced_ci_low", "val_balanced_ci_high", "val_macro_f1", "val_majority",
           "test_accuracy", "test_ci_low", "test_ci_high", "test_accuracy_tta", "test_balanced_accuracy",
           "test_balanced_ci_low", "test_balanced_ci_high", "test_macro_f1", "test_majority", "cache"]


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
    interval, balanced = plain.get("accuracy_ci", {}), plain.get("balanced_accuracy_ci", {})
    return {f"{subset}_accuracy": plain["accuracy"], f"{subset}_ci_low": interval.get("ci_low", np.nan),
            f"{subset}_ci_high": interval.get("ci_high", np.nan),
            f"{subset}_accuracy_tta": tta["accuracy"] if tta else np.nan,
            f"{subset}_macro_f1": plain["macro"]["f1-score"], f"{subset}_majority": majority_accuracy(plain),
            f"{subset}_balanced_accuracy": plain["macro"]["recall"],
            f"{subset}_balanced_ci_low": balanced.get("ci_low", np.nan),
            f"{subset}_balanced_ci_high": balanced.get("ci_high", np.nan)}


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
    seed+2, ...) with ``n_seeds`` and the mean and standard deviation over seeds of val and test accuracy
    and balanced accuracy (those ``results`` has)."""
    model = ["arch", "layers"]
    first = (results.sort_values("seed", kind="stable") if "seed" in results else results).drop_duplicates(model)
    averaged = [f"{split}_{score}" for split in ("val", "test") for score in SELECTION_METRICS
                if f"{split}_{score}" in results]
    spread = results.groupby(model)[averaged].agg(["mean", "std"])
    spread.columns = [f"{column}_seed_{statistic}" for column, statistic in spread.columns]
    counts = results.groupby(model).size().rename("n_seeds")
    return first.sort_index().join(counts, on=model).join(spread, on=model).reset_index(drop=True)


def seeds_replicated(models):
    """Whether any model of an ``over_seeds`` frame trained with more than one seed."""
    return bool((models["n_seeds"] > 1).any())


def seed_columns(model, test, replicated, metric="accuracy"):
    """A table's seed columns of an ``over_seeds`` row (empty dict: no model): ``n_seeds`` and, when the study
    has several seeds, ``run_seed`` (the seed of the run the row's per-run columns come from) and the mean and
    standard deviation over seeds of the validation (and with a test split, test) scores (``seed_statistics``)."""
    columns = {"n_seeds": model.get("n_seeds", pd.NA)}
    if replicated:
        columns["run_seed"] = model.get("seed", np.nan)
        columns |= {name: model.get(name, np.nan) for name in seed_statistics(test, metric)}
    return columns


def seed_statistics(test, metric="accuracy"):
    """Names of the mean and standard deviation over seeds of the validation (and test) accuracy, after those
    of the selection ``metric`` when it is balanced accuracy."""
    scores = ["balanced_accuracy", "accuracy"] if metric == "balanced_accuracy" else ["accuracy"]
    return [f"{split}_{score}_seed_{statistic}" for split in ["val"] + (["test"] if test else [])
            for score in scores for statistic in ("mean", "std")]


def accuracy_columns(model, test, replicated, metric="accuracy"):
    """A table's score columns of one model (an ``over_seeds`` row), named by the split they come from: per
    split the selection ``metric`` with its interval first, the other score with its interval beside it, then
    that split's majority-class baseline; then the seed columns (``seed_columns``)."""
    keys = []
    for split in ["val"] + (["test"] if test else []):
        plain = [f"{split}_accuracy", f"{split}_ci_low", f"{split}_ci_high"] + (["test_accuracy_tta"] if split == "test"
                                                                                 else [])
        balanced = [f"{split}_balanced_accuracy", f"{split}_balanced_ci_low", f"{split}_balanced_ci_high"]
        keys += (balanced + plain if metric == "balanced_accuracy" else plain + balanced) + [f"{split}_majority"]
    return {key: model.get(key, np.nan) for key in keys} | seed_columns(model, test, replicated, metric)


def check_selection_metric(metric):
    """Raise ValueError unless ``metric`` is one of SELECTION_METRICS (config ``tables.selection_metric``)."""
    if metric not in SELECTION_METRICS:
        raise ValueError(f"tables.selection_metric {metric!r} is not one of {', '.join(SELECTION_METRICS)}")


def selected_on(metric):
    """What models are chosen on, as the tables say it: ``val accuracy`` or ``val balanced_accuracy``."""
    return f"val {metric}"


def rank_models(models, metric="accuracy"):
    """``over_seeds`` rows from best to worst by the mean over seeds of validation ``metric`` (ties: fewest layers)."""
    check_selection_metric(metric)
    return models.sort_values([f"val_{metric}_seed_mean", "layers"], ascending=[False, True], kind="stable")


def select_best(results, metric="accuracy"):
    """Each architecture's model (an ``over_seeds`` row) with the highest validation ``metric`` (one of
    SELECTION_METRICS), averaged over its seeds (ties: fewest layers).

    Test numbers are carried along, never looked at: the choice is made on validation alone.
    """
    return rank_models(over_seeds(results), metric).drop_duplicates("arch").set_index("arch")


def has_test_split(results):
    """True when the study held out a test set."""
    return bool(results["test_accuracy"].notna().any())


def accuracy_metrics(results, metric="accuracy"):
    """The DVC metrics: validation accuracy of every model (the study seed's run; with balanced-accuracy
    selection also its validation balanced accuracy), what models are chosen on (``selected_on``) and, per
    architecture, the model chosen on validation with its validation and (when there is one) held-out test
    scores; with several seeds, also their number and the scores' mean and standard deviation over them."""
    models = over_seeds(results)
    scores = ["accuracy"] + (["balanced_accuracy"] if metric == "balanced_accuracy" else [])
    validation = {f"validation{'' if score == 'accuracy' else '_' + score}":
                  {arch: {f"L{layers}": value for layers, value in zip(group["layers"], group[f"val_{score}"])}
                   for arch, group in models.groupby("arch")} for score in scores}
    test = has_test_split(results)
    columns = ["layers"] + [f"val_{score}" for score in scores]
    columns += ["test_accuracy", "test_accuracy_tta", "test_balanced_accuracy"] if test else []
    if seeds_replicated(models):
        columns += ["n_seeds", *seed_statistics(test, metric)]
    best = select_best(results, metric)
    selected = {arch: {column: _plain(best.loc[arch, column]) for column in columns} for arch in best.index}
    return validation | {"selected_on": selected_on(metric), "selected_on_validation": selected,
                         "cache": cache_counts(results)}


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
