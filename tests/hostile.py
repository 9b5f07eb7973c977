"""Run a workflow script the way Snakemake does, in a fresh interpreter under a memory and time limit.

``run_script`` executes ``workflow/scripts/<name>.py`` with a stand-in ``snakemake`` object (input,
output, params, log, threads, wildcards, config), under ``prlimit --as`` and a timeout, and returns the
finished process. ``assert_clean_failure`` checks what issue 11 asks of every hostile input.
"""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2_000_000_000  # address space; the scripts' imports need about 1 GB of it
MARKER = "MARKER-7f3c-outside-the-allowed-roots"

RUNNER = """
import json, runpy, sys

class Files(list):
    def __init__(self, items):
        items = items or {}
        super().__init__(items.values() if isinstance(items, dict) else items)
        if isinstance(items, dict):
            self.__dict__.update(items)

class Params:
    def __init__(self, items):
        self.__dict__.update(items)

spec = json.loads(sys.argv[2])
snakemake = type("Snakemake", (), {})()
for name in ("input", "output", "log"):
    setattr(snakemake, name, Files(spec.get(name)))
snakemake.params = Params(spec.get("params", {}))
snakemake.wildcards = Params(spec.get("wildcards", {}))
snakemake.threads = spec.get("threads", 1)
snakemake.config = spec.get("config", {})
runpy.run_path(sys.argv[1], init_globals={"snakemake": snakemake}, run_name="__main__")
"""


def run_script(name, *, input=None, output=None, params=None, log, wildcards=None, threads=1, timeout=30,
               memory=MEMORY_LIMIT, config=None):
    """Run ``workflow/scripts/<name>.py`` in a new interpreter; returns the CompletedProcess."""
    spec = {"input": input, "output": output, "params": params or {}, "log": [str(log)],
            "wildcards": wildcards or {}, "threads": threads, "config": config or {}}
    script = PROJECT_ROOT / "workflow" / "scripts" / f"{name}.py"
    command = ["prlimit", f"--as={memory}", sys.executable, "-c", RUNNER, str(script),
               json.dumps(spec, default=str)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def plant_marker(folder):
    """A file outside the allowed roots whose content must never reach any output."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "secret.jpg"
    marker.write_text(MARKER)
    return marker


def assert_clean_failure(result, expected, outputs=(), log=None, searched=()):
    """One clear error naming ``expected``, no traceback, no outputs, no marker in any file."""
    console = result.stdout + result.stderr
    assert result.returncode != 0, console
    assert expected in console, console
    assert "Traceback" not in console, console
    if log is not None:
        text = Path(log).read_text()
        assert expected in text and "Traceback" not in text, text
    for path in outputs:
        assert not Path(path).exists(), path
    assert_no_marker(searched)


def assert_no_marker(folders):
    """The marker's content appears in no file under ``folders``."""
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name != "secret.jpg":
                assert MARKER.encode() not in path.read_bytes(), path
