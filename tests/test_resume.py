"""A training job killed with SIGKILL resumes from its last complete epoch."""

import copy
import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from workflow_helpers import SNAKEMAKE, TINY_CONFIG, copy_project, run_snakemake

pytestmark = pytest.mark.slow
EPOCHS = 8
CONFIG = copy.deepcopy(TINY_CONFIG) | {
    "dataset": {"name": "resume", "source": "synthetic", "image_size": 32},
    "synthetic": {"n_objects": 150, "size": 32},
    "training": {"weights": "none", "epochs": EPOCHS, "batch_size": 8, "lr_schedule": "cosine"},
    "architectures": {"MobileNetV2": [20]},
}
MODEL = "results/resume/models/MobileNetV2/L20"


def kill_after_epochs(workdir, epochs_done, timeout=600):
    """Start the training, SIGKILL snakemake and its job once ``epochs_done`` epochs are checkpointed."""
    state = workdir / MODEL / "checkpoint" / "state.json"
    process = subprocess.Popen([*SNAKEMAKE, "--cores", "2", f"{MODEL}/history.csv"], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if state.is_file() and len(json.loads(state.read_text())["history"]) >= epochs_done:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return len(json.loads(state.read_text())["history"])
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("training finished or timed out before it could be killed")


def test_killed_training_resumes_and_matches_uninterrupted_run(tmp_path):
    reference = copy_project(tmp_path / "reference", CONFIG)
    run_snakemake(reference, f"{MODEL}/history.csv")
    expected = pd.read_csv(reference / MODEL / "history.csv")

    killed = copy_project(tmp_path / "killed", CONFIG)
    done = kill_after_epochs(killed, epochs_done=2)
    assert 2 <= done < EPOCHS
    assert not (killed / MODEL / "history.csv").exists()

    run_snakemake(killed, "--unlock")  # snakemake itself was killed too: its lock stays behind
    run_snakemake(killed, "--rerun-incomplete", f"{MODEL}/history.csv")
    log = (killed / "logs/resume/train_model/MobileNetV2/L20.log").read_text()
    assert f"resuming after epoch {done}" in log
    resumed = pd.read_csv(killed / MODEL / "history.csv")
    assert resumed["epoch"].tolist() == list(range(1, EPOCHS + 1))
    metric_columns = [c for c in expected.columns if c != "seconds"]
    pd.testing.assert_frame_equal(resumed[metric_columns], expected[metric_columns])
    assert not (killed / MODEL / "checkpoint").exists()
