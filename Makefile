# Set-up and entry points. `make demo` runs the default workflow, `make test` the test suite.
VENV ?= .venv
CORES ?= 2
PYTHON ?= python3

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(VENV)/.installed
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakemake --lint --configfile config/studies/sabeesh2022_sdss.yaml

# Deletes what the workflow computed or fetched (results/, resources/, logs/ with the rule benchmarks,
# .snakemake/, report.html); never a tracked file (e.g. benchmarks/ holds the project's benchmark scripts).
clean:
	rm -rf logs .snakemake report.html
	find results resources -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} + 2>/dev/null || true
