"""Skips only for listed reasons: tests/skip_policy.py with the repository's tests/allowed_skips.txt, in a pytest run
of its own on a few tests that skip, as CI (CI=true), as a developer who asks for the check, and unchecked."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skip_policy import DEFAULT_LIST, allowed, read_rules

TESTS = Path(__file__).resolve().parent

SKIPPING = textwrap.dedent("""
    import pytest

    def test_runs():
        pass

    def test_no_gpu():
        pytest.skip("no GPU: mixed precision is not compared on the CPU")

    def test_slurm():
        pytest.skip("SLURM is not installed (start one with `bash .ci/slurm-cluster.sh start`)")

    def test_data():
        pytest.skip("real SDSS data not found at /nowhere")

    def test_no_reason():
        pytest.skip()

    @pytest.mark.xfail(reason="known bug")
    def test_expected_failure():
        assert False
""")
COLLECTION = 'import pytest\n\npytest.importorskip("astrotune_no_such_module")\n\n\ndef test_never():\n    pass\n'


def run_pytest(tmp_path, files=None, args=(), **env):
    """pytest on ``files`` (name: source; default SKIPPING and COLLECTION) with the policy plugin and ``args``.

    Returns (exit status, output)."""
    files = files or {"test_skipping.py": SKIPPING, "test_collection.py": COLLECTION}
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    environ = {k: v for k, v in os.environ.items()
               if k not in ("CI", "ASTROTUNE_ALLOWED_SKIPS_ONLY", "ASTROTUNE_ALLOWED_SKIPS_FILE", "PYTEST_ADDOPTS")}
    environ.update(env, PYTHONPATH=os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_policy", "-p", "no:cacheprovider", "-ra",
                             "--rootdir", str(tmp_path), *args, str(tmp_path)],
                            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def outcomes(output):
    """The final summary line's counts, e.g. {'failed': 3, 'passed': 1, 'skipped': 2}."""
    last = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def test_ci_fails_on_unlisted_and_local_only_reasons(tmp_path):
    status, output = run_pytest(tmp_path, CI="true")
    assert status == 1, output
    assert outcomes(output) == {"failed": 3, "passed": 1, "skipped": 2, "xfailed": 1}, output
    for test in ("test_slurm", "test_data", "test_no_reason"):
        assert re.search(rf"FAILED .*test_skipping.py::{test} ", output), output
    assert "refused skip: 'real SDSS data not found at /nowhere' is not allowed by" in output
    assert "(CI: its 'anywhere' rules only)" in output
    assert "REFUSED SKIP test_skipping.py::test_data: real SDSS data not found at /nowhere" in output
    assert "REFUSED SKIP test_skipping.py::test_no_reason: (no reason given)" in output
    assert re.search(r"REFUSED SKIP test_collection.py: could not import 'astrotune_no_such_module'", output), output
    assert re.search(r"SKIPPED \[1\] test_skipping.py:\d+: no GPU", output), output  # listed, and shown


def test_ci_under_pytest_xdist_fails_and_lists_the_skips_its_workers_refused(tmp_path):
    """`make test` runs two pytest-xdist workers: they refuse the skips, the controller lists them."""
    status, output = run_pytest(tmp_path, args=("-n", "2"), CI="true")
    assert status == 1, output
    assert outcomes(output) == {"failed": 3, "passed": 1, "skipped": 2, "xfailed": 1}, output
    for test in ("test_slurm", "test_data"):
        assert f"REFUSED SKIP test_skipping.py::{test}: " in output, output
    assert "REFUSED SKIP test_skipping.py::test_no_reason: (no reason given)" in output
    assert re.search(r"REFUSED SKIP test_collection.py: could not import 'astrotune_no_such_module'", output), output
    assert "every skip is on" not in output


def test_developer_check_allows_local_reasons(tmp_path):
    status, output = run_pytest(tmp_path, ASTROTUNE_ALLOWED_SKIPS_ONLY="1")
    assert status == 1, output
    assert outcomes(output) == {"failed": 2, "passed": 1, "skipped": 3, "xfailed": 1}, output
    assert "REFUSED SKIP test_skipping.py::test_slurm" not in output
    assert "REFUSED SKIP test_skipping.py::test_data" in output


def test_a_collection_skip_is_checked_too(tmp_path):
    files = {"test_fine.py": "def test_runs():\n    pass\n", "test_collection.py": COLLECTION}
    status, output = run_pytest(tmp_path, files, CI="true")
    assert outcomes(output) == {"passed": 1, "skipped": 1}, output
    assert status == 1, output
    assert "skips not on the allowed list" in output and "REFUSED SKIP test_collection.py" in output

    listed = tmp_path / "allowed.txt"
    listed.write_text("anywhere  ^could not import 'astrotune_no_such_module'\n")
    status, output = run_pytest(tmp_path, files, CI="true", ASTROTUNE_ALLOWED_SKIPS_FILE=str(listed))
    assert status == 0 and f"every skip is on {listed}" in output, output


def test_unchecked_run_only_lists_skips(tmp_path):
    status, output = run_pytest(tmp_path)
    assert status == 0, output
    assert outcomes(output) == {"passed": 1, "skipped": 5, "xfailed": 1}, output
    assert "REFUSED" not in output and "real SDSS data not found" in output


def test_the_repository_list():
    rules = read_rules(DEFAULT_LIST)
    assert allowed("could not import 'torch': No module named 'torch'", rules, ci=True)
    assert allowed("a GPU is present", rules, ci=True)
    assert allowed("no idle SLURM node answers sinfo: 'down'", rules, ci=False)
    assert not allowed("no idle SLURM node answers sinfo: 'down'", rules, ci=True)
    assert not allowed("Debian chromium is not installed (apt-get install chromium)", rules, ci=True)
    assert not allowed("real SDSS data not found at /x", rules, ci=False)
    assert not allowed("could not import 'keras': No module named 'keras'", rules, ci=False)
    assert not allowed("", rules, ci=False)


def test_a_malformed_list_is_named(tmp_path):
    bad = tmp_path / "allowed.txt"
    bad.write_text("# comment\nanywhere  ok\nsomewhere  x\n")
    with pytest.raises(ValueError, match=r"allowed.txt:3: expected 'anywhere\|local REGEX'"):
        read_rules(bad)
    bad.write_text("local  (unclosed\n")
    with pytest.raises(ValueError, match=r"allowed.txt:1: bad regex"):
        read_rules(bad)
