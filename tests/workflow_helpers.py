"""Run the real workflow in a temporary copy of the project (used by end-to-end tests)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY_CONFIG = {
    "seed": 7,
    "dataset": {"name": "tiny", "source": "synthetic", "image_size": 32},
    "synthetic": {"n_objects": 60, "size": 32, "class_fractions": {"GALAXY": 0.4, "STAR": 0.4, "QSO": 0.2}},
    "split": {"val_fraction": 0.3},
    "training": {"weights": "none", "epochs": 2, "batch_size": 16},
    "architectures": {"MobileNetV2": [0, 3], "VGG16": [0, 2]},
}


def copy_project(destination, config=None):
    """Copy the workflow files (not resources/results) into ``destination``; write ``config`` there."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "dvc.yaml"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, destination / name)
    if config is not None:
        (destination / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return destination


def run_snakemake(workdir, *args, check=True, timeout=1200):
    """Run snakemake in ``workdir``; returns the CompletedProcess (stdout and stderr as text)."""
    result = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


# Commands of the venv (snakemake, dvc) first on PATH, for DVC stages that call `snakemake`.
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def run(*command, cwd, timeout=1800):
    """Run a command in ``cwd``; fail the test with its output when it fails."""
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


def git(*args, cwd):
    """Run git with a test identity."""
    return run("git", "-c", "user.name=astrotune test", "-c", "user.email=test@example.invalid", *args, cwd=cwd)


def dvc_project(destination, config):
    """A git + DVC repository holding a copy of the project with ``config`` as config/config.yaml."""
    project = copy_project(destination, config)
    shutil.copytree(PROJECT_ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in (".gitignore", ".dvcignore"):
        shutil.copy2(PROJECT_ROOT / name, project / name)
    git("init", "-q", cwd=project)
    run("dvc", "init", "-q", cwd=project)
    return project
