#!/usr/bin/env bash
# Resolve what the cluster adds to Airflow (CeleryExecutor with Redis, PostgreSQL with asyncpg) against
# the Airflow constraints and write only the added pins to constraints/cluster-airflow-VERSION-py3.txt.
# `make cluster` installs with both files: -c constraints/airflow-VERSION-py3.txt -c <this output>.
#
# Usage: cluster/freeze_constraints.sh [VERSION]   (default 3.3.2)
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-3.3.2}"
base="constraints/airflow-$version-py3.txt"
out="constraints/cluster-airflow-$version-py3.txt"
uv="${UV:-.venv/bin/uv}"
[[ -x "$uv" ]] || uv="$(command -v uv)" || { echo "freeze_constraints: uv not found (run make venv)" >&2; exit 1; }
python_version="$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# The same list as CLUSTER_PACKAGES in mk/cluster.mk.
printf '%s\n' "apache-airflow==$version" apache-airflow-providers-celery apache-airflow-providers-postgres \
    redis psycopg2-binary > "$scratch/requirements.in"
"$uv" pip compile --quiet --no-header --no-annotate --python-version "$python_version" -c "$base" \
    "$scratch/requirements.in" -o "$scratch/all.txt"
{
    echo "# Added to $base for the cluster (make cluster): celery, redis and postgres providers and their"
    echo "# dependencies, resolved by uv against that file on Python $python_version."
    echo "# Regenerate: cluster/freeze_constraints.sh $version"
    grep -v '^#' "$base" | sort > "$scratch/base.txt"
    sort "$scratch/all.txt" | comm -23 - "$scratch/base.txt"
} > "$out"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
