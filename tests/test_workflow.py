"""End to end: the real workflow on a tiny synthetic config in a temporary directory."""

import copy
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

pytestmark = pytest.mark.slow


def planned_jobs(result):
    """Job counts per rule from a dry run's stats table."""
    counts = {}
    in_table = False
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
        elif in_table and parts and parts[0] == "total":
            break
    return counts


def test_outputs_exist(tiny_run):
    results = tiny_run / "results" / "tiny"
    for name in ("table2", "table3", "table4", "table5"):
        for ext in ("csv", "md", "tex"):
            assert (results / "tables" / f"{name}.{ext}").stat().st_size > 0
    for arch in TINY_CONFIG["architectures"]:
        assert (results / "figures" / f"accuracy_vs_layers_{arch}.png").stat().st_size > 0
        assert (results / "figures" / f"training_curves_{arch}.png").stat().st_size > 0
    summary = pd.read_csv(results / "metrics" / "summary.csv")
    assert len(summary) == 4 and summary["val_accuracy"].between(0, 1).all()
    # evaluate_model writes the balanced accuracy's bootstrap interval beside the accuracy's
    assert summary[["val_balanced_ci_low", "val_balanced_ci_high"]].notna().all().all()
    table5 = pd.read_csv(results / "tables" / "table5.csv")
    assert set(TINY_CONFIG["architectures"]) <= set(table5.iloc[:, 0])
    assert not list(results.rglob("checkpoint"))


def test_second_run_has_nothing_to_do(tiny_run):
    result = run_snakemake(tiny_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def dry_run_with(tiny_run, tmp_path, config):
    """Planned jobs of ``config`` in a copy of the project that shares the tiny run's files."""
    workdir = copy_project(tmp_path, config)
    for name in ("results", "resources", ".snakemake"):
        (workdir / name).symlink_to(tiny_run / name)
    return planned_jobs(run_snakemake(workdir, "-n"))


def test_editing_one_schedule_reruns_only_that_architecture(tiny_run, tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    # A count below the schedule's deepest: the architecture's feature cache (at L3) stays valid.
    config["architectures"]["MobileNetV2"] = [0, 1, 3]
    jobs = dry_run_with(tiny_run, tmp_path, config)
    assert jobs["train_model"] == 1 and jobs["evaluate_model"] == 1
    assert jobs["plot_architecture"] == 1 and jobs["summarize_architectures"] == 1
    assert "pack_dataset" not in jobs and "render_synthetic_sky" not in jobs


def test_network_settings_rerun_nothing_and_the_learning_rate_every_training(tiny_run, tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config["cutouts"] = {"concurrency": 1, "timeout_s": 300, "retries": 9}
    config["training"]["learning_rate"] = 0.0005
    jobs = dry_run_with(tiny_run, tmp_path, config)
    n_models = sum(len(layers) for layers in TINY_CONFIG["architectures"].values())
    assert jobs["train_model"] == n_models
    assert not {"render_synthetic_sky", "pack_dataset", "split_dataset", "summarize_architectures"} & set(jobs)


def test_more_seeds_train_only_the_new_seeds_runs_and_redo_the_tables(tiny_run, tmp_path):
    """n_seeds 2 on a finished one-seed study: the study seed's runs keep their paths and are not rerun
    (nor their cache, confusion matrices or explanations); each model trains once more, seed 8."""
    jobs = dry_run_with(tiny_run, tmp_path, copy.deepcopy(TINY_CONFIG) | {"n_seeds": 2})
    n_models = sum(len(layers) for layers in TINY_CONFIG["architectures"].values())
    assert jobs["train_model"] == n_models and jobs["evaluate_model"] == n_models
    assert jobs["aggregate_results"] == 1 and jobs["plot_architecture"] == len(TINY_CONFIG["architectures"])
    assert not {"cache_features", "pack_dataset", "plot_confusion", "explain_models"} & set(jobs)


def test_same_seed_same_metrics(tiny_run, tmp_path):
    """One model trained again with the same seed, in a copy of the tiny run (the shared run stays as it is):
    only its training job and evaluation rerun, and they give the same metrics. (The target goes before
    --forcerun, whose list of rules would otherwise take it in, leaving every job of the workflow to rerun.)"""
    metrics = "results/tiny/metrics/MobileNetV2/L3.json"
    before = json.loads((tiny_run / metrics).read_text())
    rerun = shutil.copytree(tiny_run, tmp_path / "rerun", symlinks=True)
    result = run_snakemake(rerun, metrics, "--forcerun", "train_model")
    output = result.stdout + result.stderr
    assert re.search(r"^train_model\s+1$", output, re.M) and re.search(r"^total\s+2$", output, re.M), output[-3000:]
    assert json.loads((rerun / metrics).read_text()) == before


def test_rule_benchmarks_go_to_logs(tiny_run):
    assert list((tiny_run / "logs" / "benchmarks" / "tiny" / "train_model").rglob("L*.tsv"))
    assert not (tiny_run / "benchmarks").exists()


def test_make_clean_keeps_every_tracked_file(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    files = tracked.stdout.split()
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, tmp_path / name)
    outputs = ["results/tiny/dataset.h5", "resources/tiny/synthetic/manifest.csv", "resources/tiny/keras/models/x.h5",
               "logs/benchmarks/tiny/train_model/VGG16/L0.tsv", ".snakemake/metadata/x", "report.html"]
    for name in outputs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("output")
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert [name for name in files if not (tmp_path / name).is_file()] == []
    assert [name for name in outputs if (tmp_path / name).exists()] == []
