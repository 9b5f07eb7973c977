"""DVC round trip: `dvc repro` the tiny workflow, push to a local directory remote, clone, pull.

The pulled copy must equal the original byte for byte, and after the documented `snakemake --touch`
(pulled files carry checkout times, not workflow order) Snakemake must have nothing to do.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
DATASET = TINY_CONFIG["dataset"]["name"]


def run(*command, cwd, timeout=1800):
    """Run a command in ``cwd``; fail the test with its output when it fails."""
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


def git(*args, cwd):
    return run("git", "-c", "user.name=astrotune test", "-c", "user.email=test@example.invalid", *args, cwd=cwd)


def dvc_outputs(workdir):
    """Every file DVC records as a stage output, as {relative path: sha256}."""
    stages = yaml.safe_load((workdir / "dvc.lock").read_text())["stages"]
    hashes = {}
    for stage in stages.values():
        for out in stage.get("outs", []):
            path = workdir / out["path"]
            for file in sorted(path.rglob("*") if path.is_dir() else [path]):
                if file.is_file():
                    hashes[str(file.relative_to(workdir))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return hashes


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """A git + DVC project that ran the tiny workflow through `dvc repro` and pushed to a local remote."""
    root = tmp_path_factory.mktemp("dvc")
    (root / "origin").mkdir()
    origin = copy_project(root / "origin", TINY_CONFIG)
    shutil.copytree(PROJECT_ROOT / "src", origin / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in (".gitignore", ".dvcignore"):
        shutil.copy2(PROJECT_ROOT / name, origin / name)
    git("init", "-q", cwd=origin)
    run("dvc", "init", "-q", cwd=origin)
    run("dvc", "remote", "add", "-d", "shared", str(root / "remote"), cwd=origin)
    run("dvc", "repro", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-q", "-m", "tiny study", cwd=origin)
    run("dvc", "push", cwd=origin)
    return origin


@pytest.fixture(scope="module")
def pulled(pushed, tmp_path_factory):
    """A fresh git clone of ``pushed`` after `dvc pull`."""
    clone = tmp_path_factory.mktemp("clone") / "project"
    git("clone", "-q", str(pushed), str(clone), cwd=pushed.parent)
    run("dvc", "pull", cwd=clone)
    return clone


def test_pulled_files_equal_the_originals(pushed, pulled):
    original = dvc_outputs(pushed)
    assert any(path.endswith("model.keras") for path in original)
    assert f"results/{DATASET}/dataset.h5" in original
    assert dvc_outputs(pulled) == original


def test_pulled_clone_is_up_to_date_for_dvc_and_snakemake(pulled):
    assert "up to date" in run("dvc", "status", cwd=pulled).stdout
    run("snakemake", "--touch", cwd=pulled)
    dry_run = run("snakemake", "-n", cwd=pulled)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr


def test_metrics_show_prints_the_accuracy_table(pushed):
    shown = run("dvc", "metrics", "show", cwd=pushed).stdout
    for arch, layers in TINY_CONFIG["architectures"].items():
        for n in layers:
            assert f"{arch}.L{n}" in shown


def test_plots_show_renders_curves_and_accuracy(pushed, tmp_path):
    run("dvc", "plots", "show", "-o", str(tmp_path), cwd=pushed)
    page = (tmp_path / "index.html").read_text()
    for arch in TINY_CONFIG["architectures"]:
        assert f"training_curves_{arch}.png" in page
        assert f"accuracy_vs_layers_{arch}.png" in page
    assert "vegaEmbed('#accuracy_vs_layers'" in page
