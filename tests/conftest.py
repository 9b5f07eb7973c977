"""Shared fixtures: the SDSS data beside the checkout (or a stand-in made here), the project root.

The skip policy (tests/skip_policy.py: skips only for the reasons in tests/allowed_skips.txt when CI=true
or ASTROTUNE_ALLOWED_SKIPS_ONLY=1) is registered here as a plugin.
"""

import os
from pathlib import Path

import pytest

from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

pytest_plugins = ["skip_policy"]  # skips only for the reasons in tests/allowed_skips.txt (CI=true or ...=1)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Where the real data is looked for; point ASTROTUNE_SHARED_DATA elsewhere (e.g. /nonexistent) to test with the stand-in.
SHARED_DATA = Path(os.environ.get("ASTROTUNE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def real_data_present():
    """Whether the real ``../shared/data`` (or ASTROTUNE_SHARED_DATA) is there."""
    return (SHARED_DATA / "README.md").is_file()


def pytest_report_header(config):
    if real_data_present():
        return f"shared data: {SHARED_DATA}"
    return f"shared data: not at {SHARED_DATA}; tests use a stand-in rendered by the synthetic sky"


@pytest.fixture
def project_root():
    """The checkout's root folder."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory):
    """A folder laid out like ``../shared/data``: the real one (SDSS cutouts and catalog, read in place)
    when present, else a stand-in with the same file names and columns made once per session from the
    synthetic sky (tests/standin_data.py; ``standin_data.is_standin`` tells which)."""
    if real_data_present():
        return SHARED_DATA
    from standin_data import make_standin  # imports the synthetic sky (astropy): only when needed

    return make_standin(tmp_path_factory.mktemp("shared_data_standin") / "data")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A project copy in which the whole workflow ran on the tiny synthetic config (shared, read-mostly)."""
    workdir = copy_project(tmp_path_factory.mktemp("tiny_run"), TINY_CONFIG)
    run_snakemake(workdir)
    return workdir
