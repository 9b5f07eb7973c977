"""Repeated runs over training seeds (config ``n_seeds``): the jobs and paths Snakemake plans (dry runs),
the tables' mean and standard deviation over seeds and the layer choice on the mean (in process), the
study configs' seed counts, and one small end-to-end run sharing a feature cache across seeds."""

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

SEED = TINY_CONFIG["seed"]  # 7: the extra seeds are 8 and 9


def seeded_config(n_seeds, weights, architectures):
    config = copy.deepcopy(TINY_CONFIG) | {"n_seeds": n_seeds, "architectures": architectures,
                                           "tables": {"study": "yan_table2"}}
    config["training"] = config["training"] | {"weights": weights}
    return config


def planned(output):
    """{rule: [(wildcards, input line)]} of a dry run's jobs."""
    jobs, current = {}, None
    for line in output.splitlines():
        line = line.strip()
        if match := re.match(r"(?:local)?rule (\w+):$", line):
            current = jobs.setdefault(match.group(1), [])
            current.append(["", ""])
        elif current is not None and line.startswith("input: "):
            current[-1][1] = line.removeprefix("input: ")
        elif current is not None and line.startswith("wildcards: "):
            current[-1][0] = line.removeprefix("wildcards: ")
    return jobs


def dry_run(tmp_path, config, *targets, check=True):
    workdir = copy_project(tmp_path / "project", config)
    result = run_snakemake(workdir, "-n", *targets, check=check)
    return result, planned(result.stdout + result.stderr)


def test_each_job_trains_once_per_seed_beside_the_study_seeds_paths_and_shares_the_cache(tmp_path):
    _, jobs = dry_run(tmp_path, seeded_config(3, "imagenet", {"VGG16": [0, 2]}))
    training = dict(jobs["train_model"])
    assert sorted(training) == sorted(f"dataset=tiny, arch=VGG16, layers={n}, replicate={suffix}"
                                      for n in (0, 2) for suffix in ("", "-seed8", "-seed9"))
    # One cache, computed with the study's seed, read by every seed's run (pretrained prefix: seed-independent).
    assert len(jobs["cache_features"]) == 1
    assert all(inputs.endswith("results/tiny/features/VGG16/L2.h5") for inputs in training.values())
    metrics = [f"results/tiny/metrics/VGG16/L{n}{suffix}.json" for n in (0, 2) for suffix in ("", "-seed8", "-seed9")]
    assert len(jobs["evaluate_model"]) == 6
    for rule in ("aggregate_results", "write_study_table", "plot_architecture"):
        (_, inputs), = jobs[rule]
        assert inputs.split(", ")[:6] == metrics, rule
    # The comparison of the chosen models, the explanations, the curves and confusion matrices: the study seed's.
    (_, aggregated), = jobs["aggregate_results"]
    assert aggregated.split(", ")[6:] == ["results/tiny/models/VGG16/L0/predictions.csv",
                                          "results/tiny/models/VGG16/L2/predictions.csv"]
    (_, explained), = jobs["explain_models"]
    assert "seed" not in explained and "results/tiny/models/VGG16/L2/model.keras" in explained
    assert sorted(wildcards for wildcards, _ in jobs["plot_confusion"]) == [  # dry-run order is the scheduler's
        f"dataset=tiny, arch=VGG16, layers={n}, replicate=" for n in (0, 2)]


def test_a_random_prefix_is_the_seeds_own_so_other_seeds_train_without_the_cache(tmp_path):
    _, jobs = dry_run(tmp_path, seeded_config(2, "none", {"VGG16": [0, 2]}))
    cached = {wildcards: inputs.endswith("features/VGG16/L2.h5") for wildcards, inputs in jobs["train_model"]}
    assert cached == {"dataset=tiny, arch=VGG16, layers=0, replicate=": True,
                      "dataset=tiny, arch=VGG16, layers=2, replicate=": True,
                      "dataset=tiny, arch=VGG16, layers=0, replicate=-seed8": False,
                      "dataset=tiny, arch=VGG16, layers=2, replicate=-seed8": False}


def test_a_seeds_path_resolves_to_one_job_and_an_unconfigured_seed_to_none(tmp_path):
    config = seeded_config(2, "none", {"VGG16": [0, 2]})
    _, jobs = dry_run(tmp_path, config, "results/tiny/metrics/VGG16/L2-seed8.json")
    assert [wildcards for wildcards, _ in jobs["evaluate_model"]] == [
        "dataset=tiny, arch=VGG16, layers=2, replicate=-seed8"]
    assert [wildcards for wildcards, _ in jobs["train_model"]] == [
        "dataset=tiny, arch=VGG16, layers=2, replicate=-seed8"]
    result, _ = dry_run(tmp_path / "other", config, "results/tiny/metrics/VGG16/L2-seed9.json", check=False)
    assert result.returncode != 0 and "MissingRuleException" in result.stdout + result.stderr


def test_study_configs_state_their_seed_counts():
    def n_seeds(name):
        return yaml.safe_load((PROJECT_ROOT / "config" / "studies" / f"{name}.yaml").read_text())["n_seeds"]

    assert n_seeds("sabeesh2022_sdss") == 1
    for name in ("galaxy10_decals", "fu_imagenet_fraction", "alberghi_galaxy10", "yan_effnetv2s_cbam"):
        assert n_seeds(name) == 3, name


def runs_frame(rows, test=True):
    """``collect_metrics``-like rows: (arch, layers, seed, val_accuracy, test_accuracy)."""
    frame = pd.DataFrame(rows, columns=["arch", "layers", "seed", "val_accuracy", "test_accuracy"])
    frame = frame.assign(trainable_params=10 + frame["layers"], total_params=100, total_layers=30,
                         val_ci_low=frame["val_accuracy"] - 0.05, val_ci_high=frame["val_accuracy"] + 0.05,
                         test_accuracy_tta=frame["test_accuracy"], test_balanced_accuracy=frame["test_accuracy"],
                         cache="used")
    return frame if test else frame.assign(test_accuracy=np.nan)


# CompactCNN L3 wins on the study seed (7) alone, L10 on the mean over seeds 7-9.
RUNS = [("CompactCNN", 3, 7, 0.90, 0.80), ("CompactCNN", 3, 8, 0.60, 0.50), ("CompactCNN", 3, 9, 0.63, 0.55),
        ("CompactCNN", 10, 9, 0.80, 0.70), ("CompactCNN", 10, 7, 0.85, 0.75), ("CompactCNN", 10, 8, 0.81, 0.71),
        ("CompactCNN", 0, 8, 0.52, 0.50), ("CompactCNN", 0, 7, 0.50, 0.49), ("CompactCNN", 0, 9, 0.54, 0.47)]


def test_table5_chooses_layers_on_the_mean_over_seeds_and_shows_it_beside_the_study_seeds_run():
    from astrotune.reporting.paper_tables import table4, table5
    from astrotune.reporting.results import accuracy_metrics

    row = table5(runs_frame(RUNS), paper_comparison=False).iloc[0]
    assert row["layers"] == 10 and row["n_seeds"] == 3 and row["run_seed"] == 7
    # The per-run columns are the study seed's run, with its bootstrap interval.
    assert (row["val_accuracy"], row["val_ci_low"], row["test_accuracy"]) == pytest.approx((0.85, 0.80, 0.75))
    assert row["val_accuracy_seed_mean"] == pytest.approx(np.mean([0.80, 0.85, 0.81]))
    assert row["val_accuracy_seed_std"] == pytest.approx(np.std([0.80, 0.85, 0.81], ddof=1))
    assert row["test_accuracy_seed_mean"] == pytest.approx(np.mean([0.70, 0.75, 0.71]))
    baseline = table4(runs_frame(RUNS), paper_comparison=False).iloc[0]
    assert (baseline["val_accuracy"], baseline["n_seeds"], baseline["run_seed"]) == (0.50, 3, 7)
    assert baseline["val_accuracy_seed_mean"] == pytest.approx(0.52)
    selected = accuracy_metrics(runs_frame(RUNS))
    assert selected["validation"]["CompactCNN"] == {"L0": 0.50, "L3": 0.90, "L10": 0.85}
    chosen = selected["selected_on_validation"]["CompactCNN"]
    assert chosen["layers"] == 10 and chosen["n_seeds"] == 3
    assert chosen["val_accuracy_seed_mean"] == pytest.approx(np.mean([0.80, 0.85, 0.81]))
    with pytest.raises(ValueError, match=r"repeat \(arch, layers, seed\)"):
        table5(runs_frame(RUNS + RUNS[:1]))


def test_with_one_seed_the_tables_only_gain_n_seeds():
    from astrotune.reporting.paper_tables import table4, table5

    one_seed = runs_frame([run for run in RUNS if run[2] == SEED], test=False)
    for table, before in ((table5(one_seed, paper_comparison=False), "reported_on"),
                          (table4(one_seed, paper_comparison=False), "note")):
        assert table["n_seeds"].tolist() == [1] * len(table)
        assert not [column for column in table.columns if "seed" in column and column != "n_seeds"]
        assert list(table.columns).index("n_seeds") == list(table.columns).index(before) - 1
    assert table5(one_seed, paper_comparison=False).loc[0, "layers"] == 3


def test_study_tables_average_over_seeds_and_choose_on_the_mean():
    from astrotune.reporting.study_tables import study_table

    runs = runs_frame(RUNS).assign(weights_origin="random", schedule=lambda f: "L" + f["layers"].astype(str),
                                   weights="none", reinitialise=False, train_loss=1.0, train_accuracy=0.5,
                                   val_loss=1.0, test_loss=1.0, val_macro_f1=0.5, test_macro_f1=0.5)
    table = study_table("yan_table2", runs)
    assert table["layers"].tolist() == [10] and table["val_accuracy"].tolist() == [0.85]
    assert table.loc[0, "n_seeds"] == 3 and table.loc[0, "run_seed"] == 7
    assert table.loc[0, "val_accuracy_seed_std"] == pytest.approx(np.std([0.80, 0.85, 0.81], ddof=1))
    fu = study_table("fu_table1", runs)
    assert fu["trainable_layers"].tolist() == [0, 3, 10] and fu["chosen_on_validation"].tolist() == ["", "", "yes"]
    assert list(fu.columns)[-1] == "chosen_on_validation" and fu["n_seeds"].tolist() == [3, 3, 3]


def test_accuracy_figure_draws_the_mean_with_the_spread_as_error_bars(tmp_path, monkeypatch):
    import matplotlib.axes

    from astrotune.reporting.plots import accuracy_vs_layers

    drawn = []
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda ax, x, y, yerr, **kwargs: drawn.append(
        (list(x), list(y), list(yerr))))
    accuracy_vs_layers(runs_frame(RUNS), "CompactCNN", tmp_path / "figure.png")
    (layers, mean, spread), = drawn
    assert layers == [0, 3, 10] and mean[2] == pytest.approx(100 * np.mean([0.80, 0.85, 0.81]))
    assert spread[0] == pytest.approx(100 * np.std([0.52, 0.50, 0.54], ddof=1))
    assert (tmp_path / "figure.png").stat().st_size > 0


def _compact_weights(path):
    """A CompactCNN base weights file at 32 px: a pretrained prefix, the same for every seed."""
    import keras

    from astrotune.models.zoo import build_base

    keras.utils.set_random_seed(0)
    build_base("CompactCNN", (32, 32, 3), "none").save_weights(path)
    return str(path)


@pytest.mark.slow
def test_two_seeds_end_to_end_share_the_cache_and_report_mean_and_spread(tmp_path):
    config = seeded_config(2, _compact_weights(tmp_path / "compact.weights.h5"), {"CompactCNN": [3]})
    config["training"]["epochs"] = 1
    workdir = copy_project(tmp_path / "project", config)
    results = workdir / "results" / "tiny"
    run_snakemake(workdir, "results/tiny/tables/table5.csv", "results/tiny/tables/study_yan_table2.csv",
                  "results/tiny/figures/accuracy_vs_layers_CompactCNN.png")
    runs = {seed: json.loads((results / "metrics" / "CompactCNN" / name).read_text())
            for seed, name in ((SEED, "L3.json"), (SEED + 1, f"L3-seed{SEED + 1}.json"))}
    assert {seed: (run["seed"], run["cache"]) for seed, run in runs.items()} == {
        SEED: (SEED, "used"), SEED + 1: (SEED + 1, "used")}
    assert runs[SEED]["val"]["loss"] != runs[SEED + 1]["val"]["loss"]  # another head, another epoch order
    assert len(list((results / "features").rglob("*.h5"))) == 1
    table5 = pd.read_csv(results / "tables" / "table5.csv").iloc[0]
    accuracies = [runs[seed]["val"]["accuracy"] for seed in (SEED, SEED + 1)]
    assert (table5["n_seeds"], table5["run_seed"], table5["val_accuracy"]) == (2, SEED, accuracies[0])
    assert table5["val_accuracy_seed_mean"] == pytest.approx(np.mean(accuracies))
    assert pd.read_csv(results / "tables" / "study_yan_table2.csv").loc[0, "n_seeds"] == 2
    assert pd.read_csv(results / "metrics" / "summary.csv")["seed"].tolist() == [SEED, SEED + 1]
