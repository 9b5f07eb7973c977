"""Bootstrap intervals are seeded and calibrated; paired comparisons separate real from noise differences."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from astrotune.evaluation.metrics import score_intervals
from astrotune.evaluation.uncertainty import (
    accuracy_interval,
    balanced_accuracy_interval,
    bootstrap_indices,
    compare_prediction_files,
    compare_to_best,
    resampled_balanced_accuracy,
)


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
    intervals = {key: scores["accuracy_ci"] for key, scores in
                 score_intervals(pd.concat([predictions, tta]), n_bootstrap=200, confidence=0.9, seed=3).items()}
    assert intervals["val"]["accuracy"] == 0.75 and intervals["test"]["accuracy"] == 0.5
    assert intervals["val_tta"]["accuracy"] == intervals["test_tta"]["accuracy"] == 1.0
    assert intervals["val"]["confidence"] == 0.9 and intervals["val"]["n_bootstrap"] == 200


def test_balanced_interval_is_reproducible_paired_and_contains_the_point_estimate():
    rng = np.random.default_rng(2)
    labels = rng.choice(3, size=300, p=[0.4, 0.4, 0.2])
    predicted = np.where(rng.random(300) < np.where(labels == 2, 0.6, 0.9), labels, (labels + 1) % 3)
    first = balanced_accuracy_interval(labels, predicted, seed=4)
    assert first == balanced_accuracy_interval(labels, predicted, seed=4)
    assert first != balanced_accuracy_interval(labels, predicted, seed=5)
    assert first["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert first["ci_low"] < first["balanced_accuracy"] < first["ci_high"]
    assert first["balanced_accuracy"] < accuracy_interval(labels, predicted, seed=4)["accuracy"]  # QSO recall is low
    # the accuracy interval's resamples (same seed and objects), each scored as scikit-learn scores it
    indices = bootstrap_indices(300, 5, seed=4)
    assert resampled_balanced_accuracy(labels, labels == predicted, indices) == pytest.approx(
        [balanced_accuracy_score(labels[rows], predicted[rows]) for rows in indices])


def test_balanced_intervals_per_subset_beside_the_accuracy_intervals():
    predictions = pd.DataFrame({"subset": ["val"] * 4 + ["test"] * 2, "view": "plain", "label": [0, 0, 0, 1, 0, 1],
                                "predicted": [0, 0, 0, 0, 0, 1]})
    scores = score_intervals(predictions, n_bootstrap=200, confidence=0.9, seed=3)
    intervals = {key: score["balanced_accuracy_ci"] for key, score in scores.items()}
    assert (intervals["val"]["balanced_accuracy"], intervals["test"]["balanced_accuracy"]) == (0.5, 1.0)
    assert scores["val"]["accuracy_ci"]["accuracy"] == 0.75
    assert intervals["val"]["n_bootstrap"] == 200 and intervals["val"]["seed"] == 3


def test_the_paired_comparison_is_made_on_the_selection_score(tmp_path):
    labels = np.array([0] * 80 + [1] * 20)
    majority = np.zeros(100, int)  # accuracy 0.80, balanced accuracy 0.50
    balanced = labels.copy()
    balanced[:22] = 1  # accuracy 0.78, balanced accuracy (58/80 + 1) / 2
    files = {}
    for name, predicted in (("majority", majority), ("balanced", balanced)):
        files[name] = tmp_path / f"{name}.csv"
        pd.DataFrame({"id": [f"o{i:03d}" for i in range(100)], "subset": "val", "view": "plain", "label": labels,
                      "predicted": predicted}).to_csv(files[name], index=False)
    by_accuracy = compare_prediction_files(files)
    assert list(by_accuracy.index) == ["majority", "balanced"] and by_accuracy["indistinguishable"].all()
    by_balanced = compare_prediction_files(files, score="balanced_accuracy")
    assert list(by_balanced.index) == ["balanced", "majority"]
    assert by_balanced.loc["balanced", "balanced_accuracy"] == pytest.approx((58 / 80 + 1) / 2)
    assert not by_balanced.loc["majority", "indistinguishable"]
    assert by_balanced.equals(compare_prediction_files(files, score="balanced_accuracy"))
    with pytest.raises(ValueError, match="score 'f1' is not one of accuracy, balanced_accuracy"):
        compare_prediction_files(files, score="f1")
    pd.read_csv(files["balanced"]).assign(label=1 - labels).to_csv(tmp_path / "relabelled.csv", index=False)
    with pytest.raises(ValueError, match="objects differ"):
        compare_prediction_files({"majority": files["majority"], "relabelled": tmp_path / "relabelled.csv"})
