#!/usr/bin/env bash
# Run make targets (the test suites of `make test`), up to JOBS at a time; print each one's output when
# it ends, then a summary of every target with its result and time. Fails when any target failed.
#
# Usage: scripts/run_suites.sh JOBS TARGET...        e.g. scripts/run_suites.sh 2 test-newest test-airflow-3.0.2
#
# Each target runs as `make TARGET` with its output in $SUITE_LOG_DIR/TARGET.log (default .test-logs/,
# kept after the run) and its own fresh TMPDIR, so that suites running side by side never see each
# other's temporary files. The virtual environments must exist already (`make test` builds them all
# first): two suites must not build the same venv at the same time.
set -uo pipefail

jobs="${1:?usage: scripts/run_suites.sh JOBS TARGET...}"
shift
(($# > 0)) || { echo "run_suites: no target given" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run_suites: JOBS must be a whole number >= 1, got '$jobs'" >&2; exit 2; }
make_cmd="${MAKE:-make}"
log_dir="${SUITE_LOG_DIR:-.test-logs}"
mkdir -p "$log_dir"

declare -A target_of started_at result seconds
running=0
stopping=""
scratch="$(mktemp -d "${TMPDIR:-/tmp}/run-suites.XXXXXX")"  # the jobs' TMPDIRs

# An interrupted run stops its jobs (each is a process group) before removing their TMPDIRs.
stop_all() {
    stopping=1
    for pid in "${!target_of[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    sleep 1
}
trap 'rm -rf "$scratch"' EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

start() {
    local target="$1" tmp
    tmp="$scratch/$target"
    mkdir "$tmp"
    # setsid: the job and everything it starts share a process group that stop_all can end.
    setsid bash -c 'TMPDIR="$1" "$2" --no-print-directory "$3"; rc=$?; rm -rf "$1"; exit $rc' \
        _ "$tmp" "$make_cmd" "$target" >"$log_dir/$target.log" 2>&1 </dev/null &
    target_of[$!]="$target"
    started_at[$target]=$SECONDS
    running=$((running + 1))
    echo "run_suites: started $target (log: $log_dir/$target.log)"
}

finish_one() {
    local pid rc target
    wait -n -p pid
    rc=$?
    target="${target_of[$pid]}"
    unset "target_of[$pid]"
    running=$((running - 1))
    seconds[$target]=$((SECONDS - ${started_at[$target]}))
    if ((rc == 0)); then result[$target]=passed; else result[$target]=FAILED; fi
    echo
    echo "======== $target: ${result[$target]} in ${seconds[$target]} s — output ($log_dir/$target.log) ========"
    cat "$log_dir/$target.log"
    echo "======== end of $target: ${result[$target]} in ${seconds[$target]} s ========"
}

all_start=$SECONDS
for target in "$@"; do
    while ((running >= jobs)); do finish_one; done
    [[ -n "$stopping" ]] || start "$target"
done
while ((running > 0)); do finish_one; done

failed=""
echo
echo "Summary ($# suites, $jobs at a time, $((SECONDS - all_start)) s in all):"
for target in "$@"; do
    printf '  %-22s %s in %s s\n' "$target:" "${result[$target]}" "${seconds[$target]}"
    [[ "${result[$target]}" == passed ]] || failed="$failed $target"
done
[[ -z "$failed" ]] || { echo "failed:$failed" >&2; exit 1; }
