"""Rule logs: a failed rule's log holds its error (and, when unexpected, the traceback)."""

import subprocess
import sys
import textwrap

import pytest

from astrotune.errors import InputError
from astrotune.logs import rule_logging


def test_unexpected_exception_leaves_its_traceback_in_the_log(tmp_path):
    log = tmp_path / "rule.log"
    with pytest.raises(ZeroDivisionError):
        with rule_logging(log):
            1 / 0
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "ZeroDivisionError: division by zero" in text


def test_input_error_is_one_line_on_the_console_and_in_the_log(tmp_path, capfd):
    log = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as exited:
        with rule_logging(log) as logger:
            logger.info("reading")
            raise InputError("catalog.csv", "column ra: not a number")
    assert exited.value.code == 1
    console = capfd.readouterr().err
    assert console == "ERROR: catalog.csv: column ra: not a number\n"
    text = log.read_text()
    assert "reading" in text
    assert text.endswith("ERROR: catalog.csv: column ra: not a number\n")
    assert "Traceback" not in text


def test_script_process_failing_writes_traceback_to_log_and_console(tmp_path):
    """As a workflow script runs: stderr goes to the log, Python's own traceback printing included."""
    log = tmp_path / "rule.log"
    script = textwrap.dedent(f"""
        from astrotune.logs import rule_logging
        with rule_logging({str(log)!r}):
            print("native-level message", file=__import__("sys").stderr)
            raise RuntimeError("model file is corrupt")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    text = log.read_text()
    assert "native-level message" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: model file is corrupt" in text
    assert "RuntimeError: model file is corrupt" in result.stderr
