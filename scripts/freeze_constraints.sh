#!/usr/bin/env bash
# Resolve `apache-airflow==VERSION` + this package's test extra with uv into a fresh virtualenv and
# freeze it to constraints/airflow-VERSION-py3.txt (the file `make test` installs that Airflow with).
#
# Usage: scripts/freeze_constraints.sh VERSION [EXCLUDE_NEWER]
#   EXCLUDE_NEWER (YYYY-MM-DD): resolve as the package index stood on that day, e.g. a week after the
#   Airflow release. An older Airflow resolved against today's index can get dependencies newer than
#   it works with (Airflow 3.0 with today's fastapi/cadwyn rejects its own task-runner calls).
#   apache-airflow-providers-common-compat is exempt from that date and held at the floor pyproject.toml
#   requires (its get_async_connection / get_async_extra_dejson, hooks/predictionone.py): that release
#   may be newer than the Airflow release. The file's header says so.
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
reqs=("apache-airflow==$version")
compat_floor=""
if [[ -n "$exclude_newer" ]]; then
    compat_floor="$(grep -o '"apache-airflow-providers-common-compat>=[0-9.]*"' pyproject.toml | tr -d '"' | cut -d= -f2)"
    [[ -n "$compat_floor" ]] || { echo "freeze_constraints: no common-compat floor in pyproject.toml" >&2; exit 1; }
    args+=(--exclude-newer "$exclude_newer" --exclude-newer-package apache-airflow-providers-common-compat=false)
    reqs+=("apache-airflow-providers-common-compat==$compat_floor")
fi
"$uv" pip install "${args[@]}" "${reqs[@]}" -e ".[test]"

out="constraints/airflow-$version-py3.txt"
{
    echo "# apache-airflow==$version + airflow-provider-predictionone[test], resolved by uv" \
        "${exclude_newer:+as of $exclude_newer }on Python $("$scratch/venv/bin/python" -c 'import sys; print(".".join(map(str, sys.version_info[:2])))')"
    [[ -z "$compat_floor" ]] ||
        echo "# except apache-airflow-providers-common-compat: exempt from $exclude_newer and held at pyproject.toml's" \
            "floor $compat_floor (uv --exclude-newer-package apache-airflow-providers-common-compat=false)"
    echo "# Regenerate: scripts/freeze_constraints.sh $version${exclude_newer:+ $exclude_newer}"
    "$uv" pip freeze --python "$scratch/venv/bin/python" --exclude-editable
} > "$out"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
