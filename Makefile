# Set-up and entry points. `make demo` runs the default workflow, `make test` the test suite.
VENV ?= .venv
CORES ?= 2
PYTHON ?= python3

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test,jax]"  # JAX (CPU): the backend tests run on TensorFlow and JAX
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/snakemake --cores $(CORES)

# Two pytest-xdist workers: most of the suite keeps one core busy at a time (TensorFlow imports, Snakemake
# start-ups, small models), so two share the two cores. A module's tests, and all tests reading one shared
# workflow run, stay on one worker, the end-to-end groups first (tests/conftest.py). `$(VENV)/bin/pytest`
# alone runs the suite in one process, in file order.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The workflow catalog's conventions (snakefmt, snakemake --lint) and ruff; tests/test_lint.py runs the same.
lint: $(VENV)/.installed
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/ruff check src tests workflow/scripts benchmarks
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakemake --lint --configfile config/studies/sabeesh2022_sdss.yaml
	$(VENV)/bin/snakemake --lint --configfile config/studies/alberghi_galaxy10.yaml

# Deletes what the workflow computed or fetched (results/, resources/, logs/ with the rule benchmarks,
# .snakemake/, report.html); never a tracked file (e.g. benchmarks/ holds the project's benchmark scripts).
clean:
	rm -rf logs .snakemake report.html
	find results resources -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} + 2>/dev/null || true
