"""Smoke test of the real workflow under DVC: `dvc repro` of a study whose training was killed with
SIGKILL (DVC, Snakemake and the job at once) resumes the training from its last complete epoch instead of
starting over, because the study's outputs are `persist: true`. In-process tests of the training loop's
resume (same numbers as an uninterrupted run, stale checkpoints ignored) live in tests/test_train.py.
"""

import copy
import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from workflow_helpers import ENV, TINY_CONFIG, dvc_project, run

pytestmark = pytest.mark.slow
EPOCHS = 6
CONFIG = copy.deepcopy(TINY_CONFIG) | {
    "dataset": {"name": "synthetic-demo", "source": "synthetic", "image_size": 32},
    "training": {"weights": "none", "epochs": EPOCHS, "batch_size": 8},
    "architectures": {"MobileNetV2": [20]},
}
MODEL = "results/synthetic-demo/models/MobileNetV2/L20"
STAGE = "study@synthetic-demo"  # the default study's DVC stage; it runs config/config.yaml


def kill_after_epochs(workdir, epochs_done, timeout=900):
    """Start `dvc repro`; SIGKILL it with Snakemake and the job once ``epochs_done`` epochs are checkpointed."""
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


def test_dvc_repro_after_a_killed_training_resumes_it(tmp_path):
    project = dvc_project(tmp_path / "project", CONFIG)
    done = kill_after_epochs(project, epochs_done=1)
    assert 1 <= done < EPOCHS
    assert not (project / MODEL / "history.csv").exists()

    run("snakemake", "--unlock", cwd=project)  # snakemake was killed too: its lock stays behind
    run("dvc", "repro", STAGE, cwd=project)
    log = (project / "logs/synthetic-demo/train_model/MobileNetV2/L20.log").read_text()
    assert f"resuming after epoch {done}" in log
    history = pd.read_csv(project / MODEL / "history.csv")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert not (project / MODEL / "checkpoint").exists()
    assert "up to date" in run("dvc", "status", STAGE, cwd=project).stdout
