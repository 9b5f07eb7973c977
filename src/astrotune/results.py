"""Collect per-model metrics into one table of the study."""

import json

import pandas as pd

COLUMNS = ["arch", "layers", "trainable_params", "total_params", "total_layers", "accuracy", "macro_f1"]


def collect_metrics(paths):
    """One row per trained model from its metrics JSON, sorted by architecture and layers."""
    rows = []
    for path in paths:
        metrics = json.loads(open(path).read())
        rows.append({**{key: metrics[key] for key in COLUMNS[:-1]}, "macro_f1": metrics["val"]["macro"]["f1-score"]})
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["arch", "layers"]).reset_index(drop=True)
