"""Shared fixtures: the SDSS data beside the checkout (or a stand-in made here), the project root.

The skip policy (tests/skip_policy.py: skips only for the reasons in tests/allowed_skips.txt when CI=true
or ASTROTUNE_ALLOWED_SKIPS_ONLY=1) is registered here as a plugin, and so is the study run under DVC that two
modules share (tests/dvc_study.py). Under pytest-xdist (`make test`), which tests go to one worker together.
"""

import functools
import os
import re
from pathlib import Path

import pytest

from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

# skip_policy: skips only for the reasons in tests/allowed_skips.txt (CI=true or ...=1); dvc_study: the study
# run under DVC, killed and resumed, that test_resume.py and test_dvc.py share.
pytest_plugins = ["skip_policy", "dvc_study"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Where the real data is looked for; point ASTROTUNE_SHARED_DATA elsewhere (e.g. /nonexistent) to test with the stand-in.
SHARED_DATA = Path(os.environ.get("ASTROTUNE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def real_data_present():
    """Whether the real ``../shared/data`` (or ASTROTUNE_SHARED_DATA) is there."""
    return (SHARED_DATA / "README.md").is_file()


# Session-scoped workflow runs that the tests of several modules read.
SHARED_RUNS = ("tiny_run", "dvc_study")


@functools.cache
def xdist_group(module):
    """The pytest-xdist work unit of a test module (``tests/test_x.py``): the first shared run its source
    names (each worker would otherwise run its own), else the module (its module-scoped fixtures built once)."""
    path = PROJECT_ROOT / module
    source = path.read_text() if path.is_file() else ""
    return next((name for name in SHARED_RUNS if re.search(rf"\b{name}\b", source)), module)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: no error where it is not installed
def pytest_xdist_make_scheduler(config, log):
    """`make test` runs two pytest-xdist workers (`-n 2 --dist loadscope`): whole groups go to one worker.
    (`--dist loadgroup` with xdist_group marks would do, but under pytest 9.2 xdist 3.8 cannot mark the node ids:
    pytest-xdist issue 1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_group(nodeid.split("::", 1)[0])

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """On a pytest-xdist worker: the groups holding slow tests (end-to-end runs) first, so that neither
    worker is left with one at the end while the other idles (with `--no-loadscope-reorder`, groups are handed
    out in this order)."""
    if not hasattr(config, "workerinput"):
        return
    group = {item.nodeid: xdist_group(item.nodeid.split("::", 1)[0]) for item in items}
    slow = {group[item.nodeid] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: group[item.nodeid] not in slow)


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
