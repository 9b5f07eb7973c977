"""End to end: the real workflow on a tiny synthetic config in a temporary directory."""

import copy
import json

import pandas as pd
import pytest
import yaml

from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

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
    table5 = pd.read_csv(results / "tables" / "table5.csv")
    assert set(TINY_CONFIG["architectures"]) <= set(table5.iloc[:, 0])
    assert not list(results.rglob("checkpoint"))


def test_second_run_has_nothing_to_do(tiny_run):
    result = run_snakemake(tiny_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_editing_one_schedule_reruns_only_that_architecture(tiny_run, tmp_path):
    workdir = copy_project(tmp_path)
    for name in ("results", "resources"):
        (workdir / name).symlink_to(tiny_run / name)
    (workdir / ".snakemake").symlink_to(tiny_run / ".snakemake")
    config = copy.deepcopy(TINY_CONFIG)
    config["architectures"]["MobileNetV2"] = [0, 3, 5]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(run_snakemake(workdir, "-n"))
    assert jobs["train_model"] == 1 and jobs["evaluate_model"] == 1
    assert jobs["plot_architecture"] == 1 and jobs["summarize_architecture"] == 1
    assert "pack_dataset" not in jobs and "render_synthetic_sky" not in jobs


def test_same_seed_same_metrics(tiny_run):
    metrics = tiny_run / "results" / "tiny" / "metrics" / "MobileNetV2" / "L3.json"
    before = json.loads(metrics.read_text())
    run_snakemake(tiny_run, "--forcerun", "train_model", str(metrics.relative_to(tiny_run)))
    after = json.loads(metrics.read_text())
    assert after == before
