"""Tables in the form of the Galaxy10 transfer-learning papers, from our per-model metrics.

Forms (config ``tables.study``):
- ``fu_table1``: Fu et al., Table 1: training loss and accuracy, test loss and accuracy per
  fraction of the base's layers kept at ImageNet weights;
- ``alberghi_table``: Alberghi et al. (2024), results table: accuracy and ROC AUC per model;
- ``yan_table2``: Yan et al., Table 2: top accuracy and parameters per architecture (plus macro F1).

Every number names its split: ``train_*`` from the last epoch the model kept (the training
history, measured on the balanced, augmented training stream as Keras reports it), ``val_*`` on
validation, ``test_*`` on the held-out test set (empty when the study has none). Nothing is chosen
on test: each model's epoch is fixed by validation (early stopping) or the schedule, and the
``chosen_on_validation`` column marks the table's best model by the validation score of config
``tables.selection_metric`` (accuracy, or balanced_accuracy: then its ``val_balanced_accuracy`` column stands
beside); ``selected_on`` names that score. The paper's printed values stand beside ours in ``paper_*`` columns.

With several training seeds (``n_seeds``) a row is the study seed's run, and the seed columns
(``results.seed_columns``: ``run_seed``, the mean and standard deviation over seeds of validation and test
scores) stand before ``chosen_on_validation``, which then marks the best mean validation score.
Every table says ``n_seeds``.
"""

import json
import re

import numpy as np
import pandas as pd

from astrotune.reporting.results import (
    check_selection_metric,
    over_seeds,
    rank_models,
    seed_columns,
    seeds_replicated,
    selected_on,
    weights_origin,
)

FORMS = ("fu_table1", "alberghi_table", "yan_table2")

# Fu et al., Table 1: percentage of layers at ImageNet weights -> (training loss, training accuracy,
# testing loss, testing accuracy).
FU_TABLE1 = {0: (0.62, 0.78, 0.91, 0.65), 20: (0.36, 0.87, 0.60, 0.79), 40: (0.42, 0.85, 0.68, 0.73),
             60: (0.41, 0.85, 0.66, 0.76), 80: (0.63, 0.77, 0.87, 0.67), 100: (1.22, 0.56, 1.26, 0.48)}
# Alberghi et al. (2024), results table: model -> (accuracy, ROC AUC).
ALBERGHI_TABLE = {"from scratch": ("VGG11 from scratch", 0.73, 0.924),
                  "deep fine-tuning": ("VGG11 deep tuning", 0.74, 0.924),
                  "shallow fine-tuning": ("VGG11 shallow tuning", 0.58, 0.880),
                  "custom architecture": ("Custom architecture", 0.76, 0.929)}
# Yan et al., Table 2: architecture -> (top accuracy, parameters as printed).
YAN_TABLE2 = {"MobileNetV2": (0.784, "6.9M"), "ResNet50": (0.909, "25.6M"), "VGG16": (0.817, "138M"),
              "InceptionResNetV2": (0.657, "55.8M"), "EfficientNetV2S": (0.943, "20.6M")}


def load_models(metrics_paths, history_paths):
    """One row per training run: its summary, per-split metrics and the training numbers of the
    epoch it kept (the best epoch when early stopping restored it, else the last one)."""
    rows = []
    for metrics_path, history_path in zip(metrics_paths, history_paths):
        metrics = json.loads(open(metrics_path).read())
        history = pd.read_csv(history_path)
        kept = history[history["epoch"] == metrics["best_epoch"]] if metrics.get("restored_best") else history.tail(1)
        kept = kept if len(kept) else history.tail(1)
        row = {key: metrics.get(key) for key in ("arch", "layers", "schedule", "weights", "reinitialise",
                                                  "trainable_params", "total_params", "epochs_run")}
        row["seed"] = metrics.get("seed", np.nan)
        row["weights_origin"] = weights_origin(metrics)
        row |= {"train_loss": float(kept["loss"].iloc[0]), "train_accuracy": float(kept["accuracy"].iloc[0])}
        for subset in ("val", "test"):
            part = metrics.get(subset, {})
            row |= {f"{subset}_{name}": part.get(name, np.nan)
                    for name in ("loss", "accuracy", "roc_auc", "top_k_accuracy")}
            row[f"{subset}_macro_f1"] = part.get("macro", {}).get("f1-score", np.nan)
            row[f"{subset}_balanced_accuracy"] = part.get("macro", {}).get("recall", np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _mark_chosen(table, models, metric):
    """The rows' validation ``metric`` when it is not plain accuracy, the seed columns of the rows' ``models``
    (``over_seeds`` rows), ``selected_on`` and ``chosen_on_validation``: the row whose model has the highest
    validation ``metric`` (mean over seeds; ties: the first row)."""
    if metric != "accuracy":
        table[f"val_{metric}"] = models[f"val_{metric}"].to_numpy()
    replicated = seeds_replicated(models)
    columns = [seed_columns(model, True, replicated, metric) for _, model in models.iterrows()]
    for name in columns[0] if columns else ():
        table[name] = [row[name] for row in columns]
    best = int(np.argmax(models[f"val_{metric}_seed_mean"].to_numpy()))
    table["selected_on"] = selected_on(metric)
    table.insert(len(table.columns), "chosen_on_validation", ["yes" if i == best else "" for i in range(len(table))])
    return table


def imagenet_percent(schedule):
    """Percentage of base layers left at ImageNet weights: ``frozen p%`` -> p, ``scratch`` -> 0,
    any other schedule (last N layers) -> NaN."""
    match = re.fullmatch(r"frozen ([\d.]+)%", str(schedule))
    if match:
        return float(match.group(1))
    return 0.0 if schedule == "scratch" else np.nan


def fu_table1(models, metric="accuracy"):
    """Fu et al. Table 1: per frozen fraction, training loss/accuracy and test loss/accuracy."""
    models = models.copy()
    models["imagenet_percent"] = [imagenet_percent(schedule) for schedule in models["schedule"]]
    models = models.sort_values(["arch", "imagenet_percent", "layers"]).reset_index(drop=True)
    table = pd.DataFrame({
        "arch": models["arch"], "weights": models["weights_origin"], "imagenet_layers": [f"{p:g}%" if p == p else s for p, s in
                                                    zip(models["imagenet_percent"], models["schedule"])],
        "trainable_layers": models["layers"], "train_loss": models["train_loss"],
        "train_accuracy": models["train_accuracy"], "val_loss": models["val_loss"],
        "val_accuracy": models["val_accuracy"], "test_loss": models["test_loss"],
        "test_accuracy": models["test_accuracy"]})
    reference = [FU_TABLE1.get(int(p)) if p == p and float(p).is_integer() else None
                 for p in models["imagenet_percent"]]
    for index, name in enumerate(("train_loss", "train_accuracy", "test_loss", "test_accuracy")):
        table[f"paper_{name}"] = [ref[index] if ref else np.nan for ref in reference]
    return _mark_chosen(table, models, metric)


def _alberghi_kind(row):
    """Which of Alberghi et al.'s approaches a model is: by its architecture and schedule."""
    if row["arch"] == "AvgPoolCNN":
        return "custom architecture"
    if row["schedule"] == "scratch":
        return "from scratch"
    return "shallow fine-tuning" if row["layers"] == 0 else "deep fine-tuning"


def alberghi_table(models, metric="accuracy"):
    """Alberghi et al.'s results table: accuracy and ROC AUC per model (test when there is a test
    split), validation numbers beside them. Pretrained VGG rows use Keras' VGG16, since Keras
    ships no pretrained VGG11; the row says so."""
    rows = []
    for _, row in models.iterrows():
        kind = _alberghi_kind(row)
        paper_name, paper_accuracy, paper_auc = ALBERGHI_TABLE[kind]
        name = f"{row['arch']} {kind}"
        if kind in ("deep fine-tuning", "shallow fine-tuning"):
            name += (f" ({row['weights_origin']} weights, last {row['layers']} layers trained"
                     f"{', re-initialised' if row['reinitialise'] and row['layers'] else ''})")
            if row["arch"] == "VGG16":
                name += "; VGG16 stands in for VGG11: Keras ships no pretrained VGG11"
        rows.append({"model": name, "arch": row["arch"], "layers": row["layers"], "weights": row["weights_origin"],
                     "test_accuracy": row["test_accuracy"], "test_roc_auc": row["test_roc_auc"],
                     "val_accuracy": row["val_accuracy"], "val_roc_auc": row["val_roc_auc"],
                     "paper_model": paper_name, "paper_accuracy": paper_accuracy, "paper_roc_auc": paper_auc})
    return _mark_chosen(pd.DataFrame(rows), models, metric)


def yan_table2(models, metric="accuracy"):
    """Yan et al. Table 2 (one row per architecture instead of one column): top accuracy, macro F1
    and parameters; per architecture the model with the best (mean) validation ``metric`` (ties: fewest layers)."""
    best = rank_models(models, metric).drop_duplicates("arch")
    best = best.sort_values("arch", key=lambda a: a != "EfficientNetV2S").reset_index(drop=True)
    table = pd.DataFrame({
        "arch": best["arch"], "weights": best["weights_origin"], "layers": best["layers"],
        "test_accuracy": best["test_accuracy"],
        "test_macro_f1": best["test_macro_f1"], "val_accuracy": best["val_accuracy"],
        "val_macro_f1": best["val_macro_f1"], "total_params": best["total_params"].astype(int),
        "trainable_params": best["trainable_params"].astype(int),
        "paper_top_accuracy": [YAN_TABLE2.get(a, (np.nan, ""))[0] for a in best["arch"]],
        "paper_parameters": [YAN_TABLE2.get(a, (np.nan, ""))[1] for a in best["arch"]]})
    return _mark_chosen(table, best, metric)


def study_table(form, models, metric="accuracy"):
    """The table of ``form`` (one of FORMS) from ``load_models`` rows (one per run), a row per model, the
    best model chosen on validation ``metric`` (config ``tables.selection_metric``)."""
    if form not in FORMS:
        raise ValueError(f"tables.study {form!r} is not one of {', '.join(FORMS)}")
    check_selection_metric(metric)
    forms = {"fu_table1": fu_table1, "alberghi_table": alberghi_table, "yan_table2": yan_table2}
    return forms[form](over_seeds(models), metric)
