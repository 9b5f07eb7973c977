"""What `make lint` checks, in the test suite: the Snakefile and rule files as snakefmt formats them,
`snakemake --lint` clean for the default config and for studies whose data sources define other rules,
ruff clean on the Python code, and the workflow catalog's usage file. Seconds; no job runs.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_helpers import PROJECT_ROOT, copy_project

BIN = Path(sys.executable).parent


def run_tool(*command, cwd=PROJECT_ROOT):
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_snakefile_and_rule_files_are_snakefmt_formatted():
    result = run_tool("snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow/rules`:\n{result.stdout}{result.stderr}"
    assert "would be left unchanged" in result.stderr  # it read the files


# The default (synthetic sky), an SDSS query with cutouts, a Galaxy10 study with a study table.
@pytest.mark.parametrize("configfile", [None, "config/studies/sabeesh2022_sdss.yaml",
                                        "config/studies/alberghi_galaxy10.yaml"])
def test_snakemake_lint_is_clean(configfile, tmp_path):
    workdir = copy_project(tmp_path)  # --lint writes .snakemake/; not into the checkout
    result = run_tool("snakemake", "--lint", *(["--configfile", configfile] if configfile else []), cwd=workdir)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "workflow is in a good condition" in result.stdout + result.stderr


def test_python_code_is_ruff_clean():
    result = run_tool("ruff", "check", "src", "tests", "workflow/scripts", "benchmarks")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_catalog_usage_points_at_the_config_docs_and_the_readme_commands():
    catalog = yaml.safe_load((PROJECT_ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    desc = usage["mandatory-flags"]["desc"]
    assert "config/README.md" in desc
    readme = (PROJECT_ROOT / "README.md").read_text()
    for command in ("make demo", "make test"):
        assert command in desc and command in readme
    assert any(usage["software-stack-deployment"].values())
    assert usage["report"] is True
    assert (PROJECT_ROOT / "config" / "README.md").is_file()
