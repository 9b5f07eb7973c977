"""Pytest plugin (conftest.py): one study run under DVC whose training was killed with SIGKILL and then
resumed by the next `dvc repro`, shared by tests/test_resume.py (the resume) and tests/test_dvc.py (push,
clone, pull of its outputs), so the workflow runs under DVC once per test session."""

import copy
import json
import os
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest

from workflow_helpers import ENV, TINY_CONFIG, dvc_project, run

DATASET = "synthetic-demo"  # the default study's stage, study@synthetic-demo, runs config/config.yaml
STAGE = f"study@{DATASET}"
EPOCHS = 4
CONFIG = copy.deepcopy(TINY_CONFIG) | {
    "dataset": TINY_CONFIG["dataset"] | {"name": DATASET},
    "training": {"weights": "none", "epochs": EPOCHS, "batch_size": 8},
    "architectures": {"VGG16": [2]},
    # No unsupervised baseline: one Keras job less in each `dvc repro` (the tiny run makes it, tests/test_explain.py).
    "unsupervised": {"enabled": False},
}
MODEL = f"results/{DATASET}/models/VGG16/L2"


def kill_after_epochs(workdir, epochs_done, timeout=900):
    """Start `dvc repro`; SIGKILL it with Snakemake and the job once ``epochs_done`` epochs are checkpointed;
    returns the epochs the checkpoint holds."""
    state = workdir / MODEL / "checkpoint" / "state.json"
    process = subprocess.Popen(["dvc", "repro", STAGE], cwd=workdir, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                done = len(json.loads(state.read_text())["state"]["history"])
            except (OSError, ValueError, KeyError):
                done = 0
            if done >= epochs_done:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return len(json.loads(state.read_text())["state"]["history"])
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    pytest.fail("training finished or timed out before it could be killed")


@pytest.fixture(scope="session")
def dvc_study(tmp_path_factory):
    """A git + DVC project of the one-model default study: `dvc repro` killed (DVC, Snakemake and the job)
    after the first checkpointed epoch, then `snakemake --unlock` and `dvc repro` again, to the end.
    ``killed_after``: epochs checkpointed at the kill; ``history_at_kill``: whether history.csv existed then."""
    project = dvc_project(tmp_path_factory.mktemp("dvc") / "origin", CONFIG)
    killed_after = kill_after_epochs(project, epochs_done=1)
    history_at_kill = (project / MODEL / "history.csv").exists()
    run("snakemake", "--unlock", cwd=project)  # snakemake was killed too: its lock stays behind
    run("dvc", "repro", STAGE, cwd=project)
    return SimpleNamespace(project=project, killed_after=killed_after, history_at_kill=history_at_kill)
