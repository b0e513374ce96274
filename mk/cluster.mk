# The scripted cluster (issue 13): PostgreSQL and Redis from Debian's packages, the emulator, and Airflow
# with CeleryExecutor (api-server, scheduler, dag-processor, triggerer, two Celery workers) on this machine.
# `make cluster` starts it (state, logs and pid files in .cluster/), `make cluster-stop` stops it,
# `make test-cluster` starts it, runs cluster/test_cluster.py against it and stops it (also on failure).
# docs/deployment.md describes the settings.
CLUSTER_VENV ?= .venv-cluster
CLUSTER_CONSTRAINTS ?= constraints/cluster-airflow-$(AIRFLOW_VERSION)-py3.txt
# The same list as cluster/freeze_constraints.sh resolves into $(CLUSTER_CONSTRAINTS).
CLUSTER_PACKAGES := apache-airflow-providers-celery apache-airflow-providers-postgres redis psycopg2-binary

.PHONY: cluster cluster-stop cluster-status test-cluster

$(CLUSTER_VENV)/.installed: pyproject.toml $(CONSTRAINTS) $(CLUSTER_CONSTRAINTS)
	rm -rf $(CLUSTER_VENV)
	$(PYTHON) -m venv $(CLUSTER_VENV)
	$(CLUSTER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(CLUSTER_VENV)/bin/uv pip install --quiet --python $(CLUSTER_VENV)/bin/python \
	    -c $(CONSTRAINTS) -c $(CLUSTER_CONSTRAINTS) -e . $(CLUSTER_PACKAGES)
	touch $@

cluster: $(CLUSTER_VENV)/.installed
	$(CLUSTER_VENV)/bin/python cluster/cluster.py start

cluster-stop:
	@if [ -x $(CLUSTER_VENV)/bin/python ]; then $(CLUSTER_VENV)/bin/python cluster/cluster.py stop; fi

cluster-status: $(CLUSTER_VENV)/.installed
	$(CLUSTER_VENV)/bin/python cluster/cluster.py status

# The cluster's start is part of the stage (and of its time); the stop runs whatever happened before it.
test-cluster: $(CLUSTER_VENV)/.installed
	@start=$$(date +%s); status=0; \
	$(CLUSTER_VENV)/bin/python cluster/cluster.py start && \
	    $(CLUSTER_VENV)/bin/python cluster/test_cluster.py || status=$$?; \
	$(CLUSTER_VENV)/bin/python cluster/cluster.py stop; \
	echo "make test-cluster: $$(test $$status = 0 && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s (cluster start included)"; \
	exit $$status
