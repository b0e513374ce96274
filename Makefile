# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both build their own virtual environment with a pinned Airflow; nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
CONSTRAINTS ?= constraints/airflow-$(AIRFLOW_VERSION)-py3.txt
BIN := $(VENV)/bin
# `make test` runs the whole suite on the newest Airflow ($(VENV), with ruff and the browser test) and
# on each of these, in .venv-airflow-<version> pinned by constraints/airflow-<version>-py3.txt:
# the newest 2.x, the oldest supported 3.0 and the newest 3.1 and 3.2 (README "Supported versions").
# Newest first: the longest suites (3.2, 3.1) start first, so the two slots end close together.
OLDER_AIRFLOW_VERSIONS ?= 3.2.2 3.1.8 3.0.2 2.11.2
# How many suites `make test` runs side by side (scripts/run_suites.sh); TEST_JOBS=1: one after another.
TEST_JOBS ?= 2
SUITES := test-newest $(addprefix test-airflow-,$(OLDER_AIRFLOW_VERSIONS))

# make cluster, cluster-stop, test-cluster (docs/deployment.md); included here so that its variables are
# set before test-envs below names the cluster's venv.
include mk/cluster.mk
.DEFAULT_GOAL := venv

.PHONY: venv test test-envs test-newest lint demo emulator clean

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
	$(BIN)/ruff check airflow_provider_predictionone tests dags_examples scripts cluster benchmarks

# Every version runs even when one fails, TEST_JOBS at a time, each with its output in .test-logs/<suite>.log
# (printed when it ends); the summary lists each with its result and time, and any failure fails.
test: lint
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) test-envs
	@echo "make test: newest = Airflow $(AIRFLOW_VERSION), older = $(OLDER_AIRFLOW_VERSIONS)"
	@status=0; MAKE="$(MAKE)" bash scripts/run_suites.sh $(TEST_JOBS) $(SUITES) || status=1; \
	$(MAKE) --no-print-directory test-cluster || status=1; \
	test $$status = 0 || { echo "make test failed (see the suites' summary and the cluster stage above)" >&2; exit 1; }

# What the suites need, ready before any starts (two suites must not build one venv at the same time).
test-envs: venv $(foreach v,$(OLDER_AIRFLOW_VERSIONS),.venv-airflow-$(v)/.installed) $(CLUSTER_VENV)/.installed
	bash scripts/install_browser_test_deps.sh $(VENV)

# The newest Airflow, with the browser test's Chromium and Playwright.
test-newest: venv
	bash scripts/install_browser_test_deps.sh $(VENV)
	$(BIN)/python -m pytest

# An older Airflow: `make test-airflow-2.11.2` (the browser test runs on 3.2+, skips itself before).
test-airflow-%: .venv-airflow-%/.installed
	.venv-airflow-$*/bin/python -m pytest

demo: venv
	$(BIN)/python scripts/demo.py

emulator: venv
	$(BIN)/predictionone-emulator

# Performance benchmarks (issues 6 and 15): tables on stdout, recorded in docs/benchmarks.md. Every script
# ends with one JSON line (its figures and targets); benchmarks/summary.py passes the output through as it
# comes and ends it with one table of every target: the make fails if a target is not met or a script did
# not report (every script runs even when one fails). `make bench`: 9 minutes on 2 cores (docs/benchmarks.md
# is one such run). BENCH_SIZES are the upload sizes (e.g. BENCH_SIZES=64M,256M,1G,4G).
BENCH_SIZES ?= 64M,256M,1G
.PHONY: bench bench-quick
bench: venv
	@( export PYTHONUNBUFFERED=1; \
	  $(BIN)/python benchmarks/parse_cost.py; \
	  $(BIN)/python benchmarks/upload.py --sizes $(BENCH_SIZES); \
	  $(BIN)/python benchmarks/request_cost.py; \
	  $(BIN)/python benchmarks/waits.py; \
	  $(BIN)/python benchmarks/batch_predict.py; \
	  $(BIN)/python benchmarks/api_keys.py; \
	  $(BIN)/python benchmarks/http_libraries.py; \
	) | $(BIN)/python benchmarks/summary.py --echo \
	  --expect parse_cost,upload,request_cost,waits,batch_predict,api_keys,http_libraries

# Every target of `make bench`, measured with less: medians of fewer runs, one upload size (64 MiB), batch
# predict at concurrency 32 only and no parallel round (the 100,000-row memory run stays: the memory target
# needs it), fewer HTTP-library rounds; request_cost.py (no target) is left out. The 1,000 waits end over
# BENCH_QUICK_SPREAD = 60 s as in `make bench` (the whole run's CPU % depends on it: a shorter spread weighs
# the start-up burst more). About 3.5 minutes on 2 cores.
BENCH_QUICK_SPREAD ?= 60
bench-quick: venv
	@( export PYTHONUNBUFFERED=1; \
	  $(BIN)/python benchmarks/parse_cost.py --runs 3 --cold-runs 0; \
	  $(BIN)/python benchmarks/upload.py --sizes 64M --repeat 2; \
	  $(BIN)/python benchmarks/waits.py --jobs 1000 --spread $(BENCH_QUICK_SPREAD) --compare-jobs 0; \
	  $(BIN)/python benchmarks/batch_predict.py --concurrency 32 --repeat 3 --clients 0; \
	  $(BIN)/python benchmarks/api_keys.py; \
	  $(BIN)/python benchmarks/http_libraries.py --rounds 3 --requests 1000; \
	) | $(BIN)/python benchmarks/summary.py --echo --expect parse_cost,upload,waits,batch_predict,api_keys,http_libraries

# The documentation site (mkdocs.yml): strict build into site/; open site/index.html.
.PHONY: docs
docs: venv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean: cluster-stop
	rm -rf $(VENV) .venv-airflow-* $(CLUSTER_VENV) .cluster .airflow-home .demo .pytest_cache .test-logs site

