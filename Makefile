# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both build their own virtual environment with a pinned Airflow; nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
CONSTRAINTS ?= constraints/airflow-$(AIRFLOW_VERSION)-py3.txt
BIN := $(VENV)/bin
# `make test` runs the whole suite on the newest Airflow ($(VENV), with ruff and the browser test) and
# on each of these, in .venv-airflow-<version> pinned by constraints/airflow-<version>-py3.txt:
# the newest 2.x and the oldest supported 3.0 (README "Supported versions").
OLDER_AIRFLOW_VERSIONS ?= 2.11.2 3.0.2

.PHONY: venv test test-newest lint demo emulator clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[test]"
	touch $@

# One virtual environment per older Airflow (uv comes from $(VENV)).
.PRECIOUS: .venv-airflow-%/.installed
.venv-airflow-%/.installed: pyproject.toml constraints/airflow-%-py3.txt | $(VENV)/.installed
	rm -rf .venv-airflow-$*
	$(PYTHON) -m venv .venv-airflow-$*
	$(BIN)/uv pip install --quiet --python .venv-airflow-$*/bin/python -c constraints/airflow-$*-py3.txt -e ".[test]"
	touch $@

lint: venv
	$(BIN)/ruff check airflow_provider_predictionone tests dags_examples scripts

# Every version runs even when one fails; the summary lists each with its time, and any failure fails.
test: lint
	@summary=""; failed=""; \
	for target in test-newest $(addprefix test-airflow-,$(OLDER_AIRFLOW_VERSIONS)); do \
	    start=$$(date +%s); \
	    if $(MAKE) --no-print-directory $$target; then result=passed; else result=FAILED; failed="$$failed $$target"; fi; \
	    summary="$$summary\n  $$target: $$result in $$(( $$(date +%s) - start )) s"; \
	done; \
	printf "make test (newest = Airflow $(AIRFLOW_VERSION)):$$summary\n"; \
	test -z "$$failed" || { echo "make test failed:$$failed" >&2; exit 1; }

# The newest Airflow, with the browser test's Chromium and Playwright.
test-newest: venv
	bash scripts/install_browser_test_deps.sh $(VENV)
	$(BIN)/python -m pytest

# An older Airflow: `make test-airflow-2.11.2` (the browser test skips itself there).
test-airflow-%: .venv-airflow-%/.installed
	.venv-airflow-$*/bin/python -m pytest

demo: venv
	$(BIN)/python scripts/demo.py

emulator: venv
	$(BIN)/predictionone-emulator

# Performance benchmarks (issue 6): tables on stdout, recorded in docs/benchmarks.md. About 13 minutes
# on 2 cores. BENCH_SIZES are the upload sizes (e.g. BENCH_SIZES=64M,256M,1G,4G).
BENCH_SIZES ?= 64M,256M,1G
.PHONY: bench
bench: venv
	$(BIN)/python benchmarks/parse_cost.py
	$(BIN)/python benchmarks/upload.py --sizes $(BENCH_SIZES)
	$(BIN)/python benchmarks/request_cost.py
	$(BIN)/python benchmarks/waits.py
	$(BIN)/python benchmarks/batch_predict.py
	$(BIN)/python benchmarks/api_keys.py

# The documentation site (mkdocs.yml): strict build into site/; open site/index.html.
.PHONY: docs
docs: venv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .venv-airflow-* .airflow-home .demo .pytest_cache site
