"""Bootstrap intervals are seeded and calibrated; paired comparisons separate real from noise differences."""

import numpy as np
import pandas as pd
import pytest

from astrotune.evaluation.metrics import accuracy_intervals
from astrotune.evaluation.uncertainty import accuracy_interval, compare_prediction_files, compare_to_best


def test_interval_is_reproducible_and_about_binomial_width():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    predicted = np.where(rng.random(300) < 0.8, labels, (labels + 1) % 3)
    first = accuracy_interval(labels, predicted, seed=4)
    assert first == accuracy_interval(labels, predicted, seed=4)
    assert first != accuracy_interval(labels, predicted, seed=5)
    p = first["accuracy"]
    assert first["ci_low"] < p < first["ci_high"]
    binomial_width = 2 * 1.96 * np.sqrt(p * (1 - p) / 300)
    assert first["ci_high"] - first["ci_low"] == pytest.approx(binomial_width, rel=0.2)


def test_paired_bootstrap_tells_real_differences_from_noise():
    rng = np.random.default_rng(1)
    best = rng.random(300) < 0.9
    near = best.copy()
    near[np.flatnonzero(near)[:2]] = False  # two objects worse: 0.7 points
    far = rng.random(300) < 0.6
    table = compare_to_best({"far": far, "near": near, "best": best}, seed=0)
    assert list(table.index) == ["best", "near", "far"]
    assert table.loc["best", "indistinguishable"] and table.loc["near", "indistinguishable"]
    assert not table.loc["far", "indistinguishable"]
    assert table.loc["far", "diff_ci_low"] > 0 and table.loc["far", "p_value"] < 0.01
    assert table.loc["near", "difference"] == pytest.approx(2 / 300)


def test_prediction_files_must_cover_the_same_objects(tmp_path):
    rows = pd.DataFrame({"id": ["a", "b", "c", "d"], "subset": "val", "view": "plain", "label": [0, 1, 1, 0],
                         "predicted": [0, 1, 0, 0]})
    rows.to_csv(tmp_path / "one.csv", index=False)
    rows.iloc[::-1].to_csv(tmp_path / "same_shuffled.csv", index=False)
    rows.assign(id=["a", "b", "c", "e"]).to_csv(tmp_path / "other.csv", index=False)
    table = compare_prediction_files({"one": tmp_path / "one.csv", "two": tmp_path / "same_shuffled.csv"})
    assert table["accuracy"].tolist() == [0.75, 0.75]
    with pytest.raises(ValueError, match="objects differ"):
        compare_prediction_files({"one": tmp_path / "one.csv", "other": tmp_path / "other.csv"})


def test_intervals_per_subset():
    predictions = pd.DataFrame({"subset": ["val"] * 4 + ["test"] * 2, "view": "plain", "label": [0, 1, 0, 1, 0, 1],
                                "predicted": [0, 1, 1, 1, 0, 0]})
    tta = predictions.assign(view="tta", predicted=predictions["label"])
    intervals = accuracy_intervals(pd.concat([predictions, tta]), n_bootstrap=200, confidence=0.9, seed=3)
    assert intervals["val"]["accuracy"] == 0.75 and intervals["test"]["accuracy"] == 0.5
    assert intervals["val_tta"]["accuracy"] == intervals["test_tta"]["accuracy"] == 1.0
    assert intervals["val"]["confidence"] == 0.9 and intervals["val"]["n_bootstrap"] == 200
