"""Cluster policy of the test cluster (copied to $AIRFLOW_HOME/config/ by cluster/cluster.py).

The example DAGs wait 5 minutes before a retry, as a production DAG would. The cluster test kills
workers on purpose and must see the retry within seconds, so this policy caps every task's
``retry_delay`` at ``$CLUSTER_RETRY_DELAY`` seconds when the dag-processor parses the DAGs (the
scheduler schedules retries from the parsed DAG). The same hook is how a deployment changes a
setting for every task without editing the DAG files.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any


def task_policy(task: Any) -> None:
    limit = timedelta(seconds=int(os.environ.get("CLUSTER_RETRY_DELAY", "300")))
    if task.retry_delay > limit:
        task.retry_delay = limit
