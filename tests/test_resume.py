"""Smoke test of the real workflow under DVC: `dvc repro` of a study whose training was killed with
SIGKILL (DVC, Snakemake and the job at once) resumes the training from its last complete epoch instead of
starting over, because the study's outputs are `persist: true`. The killed and resumed study
(tests/dvc_study.py) is also the one tests/test_dvc.py pushes and pulls. In-process tests of the training loop's
resume (same numbers as an uninterrupted run, stale checkpoints ignored) live in tests/test_train.py.
"""

import pandas as pd
import pytest
from dvc_study import EPOCHS, MODEL, STAGE

from workflow_helpers import run

pytestmark = pytest.mark.slow


def test_dvc_repro_after_a_killed_training_resumes_it(dvc_study):
    project, done = dvc_study.project, dvc_study.killed_after
    assert 1 <= done < EPOCHS
    assert not dvc_study.history_at_kill

    log = (project / "logs/synthetic-demo/train_model/VGG16/L2.log").read_text()
    assert f"resuming after epoch {done}" in log
    history = pd.read_csv(project / MODEL / "history.csv")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert not (project / MODEL / "checkpoint").exists()
    assert "up to date" in run("dvc", "status", STAGE, cwd=project).stdout
