# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both build their own virtual environment with a pinned Airflow; nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
CONSTRAINTS ?= constraints/airflow-$(AIRFLOW_VERSION)-py3.txt
BIN := $(VENV)/bin

.PHONY: venv test lint demo emulator clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[test]"
	touch $@

lint: venv
	$(BIN)/ruff check airflow_provider_predictionone tests dags_examples scripts

test: venv lint
	bash scripts/install_browser_test_deps.sh $(VENV)
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/python scripts/demo.py

emulator: venv
	$(BIN)/predictionone-emulator

# The documentation site (mkdocs.yml): strict build into site/; open site/index.html.
.PHONY: docs
docs: venv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .airflow-home .demo .pytest_cache site
