#!/usr/bin/env bash
# Resolve `apache-airflow==VERSION` + this package's test extra with uv into a fresh virtualenv and
# freeze it to constraints/airflow-VERSION-py3.txt (the file `make test` installs that Airflow with).
#
# Usage: scripts/freeze_constraints.sh VERSION [EXCLUDE_NEWER]
#   EXCLUDE_NEWER (YYYY-MM-DD): resolve as the package index stood on that day, e.g. a week after the
#   Airflow release. An older Airflow resolved against today's index can get dependencies newer than
#   it works with (Airflow 3.0 with today's fastapi/cadwyn rejects its own task-runner calls).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: scripts/freeze_constraints.sh VERSION [EXCLUDE_NEWER]}"
exclude_newer="${2:-}"
python="${PYTHON:-python3}"
uv="${UV:-.venv/bin/uv}"
[[ -x "$uv" ]] || uv="$(command -v uv)" || { echo "freeze_constraints: uv not found (run make venv)" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
args=(--quiet --python "$scratch/venv/bin/python")
[[ -n "$exclude_newer" ]] && args+=(--exclude-newer "$exclude_newer")
"$uv" pip install "${args[@]}" "apache-airflow==$version" -e ".[test]"

out="constraints/airflow-$version-py3.txt"
{
    echo "# apache-airflow==$version + airflow-provider-predictionone[test], resolved by uv" \
        "${exclude_newer:+as of $exclude_newer }on Python $("$scratch/venv/bin/python" -c 'import sys; print(".".join(map(str, sys.version_info[:2])))')"
    echo "# Regenerate: scripts/freeze_constraints.sh $version${exclude_newer:+ $exclude_newer}"
    "$uv" pip freeze --python "$scratch/venv/bin/python" --exclude-editable
} > "$out"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
