"""Shared fixtures: the real SDSS data beside the checkout, the project root."""

import os
from pathlib import Path

import pytest

from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ASTROTUNE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture
def project_root():
    """The checkout's root folder."""
    return PROJECT_ROOT


@pytest.fixture
def shared_data():
    """``../shared/data`` (real SDSS cutouts and catalog); skips the test when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real SDSS data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A project copy in which the whole workflow ran on the tiny synthetic config (shared, read-mostly)."""
    workdir = copy_project(tmp_path_factory.mktemp("tiny_run"), TINY_CONFIG)
    run_snakemake(workdir)
    return workdir
