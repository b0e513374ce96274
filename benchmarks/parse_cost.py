"""DAG parse cost of the provider (issue 6, item 2).

What a DAG file pays for importing the provider, on top of ``import airflow.sdk``: each run is a
fresh interpreter started with ``python -X importtime`` that imports ``airflow.sdk`` and then the
provider's modules. Two numbers per run, medians reported:

* *wall*: ``time.perf_counter()`` around the provider imports, in the same process;
* *importtime*: the sum of the ``-X importtime`` self times of every module imported after
  ``airflow.sdk`` (i.e. everything the provider pulls in that Airflow had not loaded yet).

Then a last interpreter constructs every operator, sensor and trigger with ``socket.connect`` and
connection lookups patched to raise: the constructors must make no network call and no lookup.

Targets (the JSON line at the end): each bytecode-cached scenario's extra cost (the larger of the two
medians) <= 30 ms; constructors: 0 socket connects and 0 connection lookups.

Usage: ``python benchmarks/parse_cost.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, Target, child_env, machine_line, median, report, table, verdict
from _construct_all import MARK as CONSTRUCT_MARK

TARGET_MS = 30.0
PKG = "airflow_provider_predictionone"
SCENARIOS = {
    "operators only (a typical DAG file)": [f"{PKG}.operators"],
    "operators and sensors": [f"{PKG}.operators", f"{PKG}.sensors"],
    "every public module": [PKG, f"{PKG}.hooks.predictionone", f"{PKG}.operators", f"{PKG}.sensors", f"{PKG}.triggers"],
}
# the scenarios' names in the JSON line
KEYS = {
    "operators only (a typical DAG file)": "operators",
    "operators and sensors": "operators_sensors",
    "every public module": "every_module",
}
MARK = "PARSE_COST_RESULT "

_CHILD = r"""
import json, sys, time
modules = json.loads(sys.argv[1])
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
for name in modules:
    exec(f"import {name}")  # an import statement: -X importtime does not see importlib.import_module
t2 = time.perf_counter()
new = sorted(set(sys.modules) - before)
print("MARK" + json.dumps({"sdk_ms": (t1 - t0) * 1000, "provider_ms": (t2 - t1) * 1000, "new": new}), flush=True)
""".replace("MARK", MARK)


def _importtime(stderr: str) -> tuple[float, list[tuple[str, float, float, int]]]:
    """Sum of self times (ms) after the top-level ``airflow.sdk`` entry, and those entries."""
    entries: list[tuple[str, float, float, int]] = []
    started = False
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, cumulative_us, name = line.split("|", 2)
        self_us = head.split(":", 1)[1]
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        module = name.strip()
        if not started:
            started = module == "airflow.sdk" and depth == 0
            continue
        entries.append((module, float(self_us) / 1000, float(cumulative_us) / 1000, depth))
    return sum(e[1] for e in entries), entries


def measure(modules: list[str], runs: int, env: dict[str, str]) -> dict[str, object]:
    walls, sums, sdk = [], [], []
    per_module: dict[str, list[float]] = defaultdict(list)
    new_modules: list[str] = []
    for _ in range(runs):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", _CHILD, json.dumps(modules)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
            check=True,
        )
        result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith(MARK))[len(MARK) :])
        total, entries = _importtime(done.stderr)
        walls.append(result["provider_ms"])
        sdk.append(result["sdk_ms"])
        sums.append(total)
        new_modules = result["new"]
        # cumulative time of each module that a provider module imported directly
        parents: list[str] = []
        for module, _self, cumulative, depth in reversed(entries):
            parents = parents[:depth]
            parent = parents[-1] if parents else ""
            if not module.startswith(PKG) and (parent.startswith(PKG) or depth == 0):
                per_module[module].append(cumulative)
            elif module.startswith(PKG):
                per_module[module + " (self)"].append(_self)
            parents.append(module)
    heavy = sorted(((median(v), k) for k, v in per_module.items()), reverse=True)[:8]
    return {
        "wall": median(walls),
        "importtime": median(sums),
        "sdk": median(sdk),
        "walls": walls,
        "sums": sums,
        "heavy": heavy,
        "new": new_modules,
    }


def construct(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [PYTHON, str(Path(__file__).with_name("_construct_all.py"))],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(CONSTRUCT_MARK)]
    if not lines:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(lines[0][len(CONSTRUCT_MARK) :])


def _envs(home: str, pycache: str) -> dict[str, dict[str, str]]:
    warm = child_env(AIRFLOW_HOME=home, PYTHONPYCACHEPREFIX=pycache)
    warm.pop("PYTHONDONTWRITEBYTECODE", None)
    cold = child_env(AIRFLOW_HOME=home, PYTHONDONTWRITEBYTECODE="1")
    cold.pop("PYTHONPYCACHEPREFIX", None)
    return {"warm": warm, "cold": cold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per scenario (median reported)")
    parser.add_argument(
        "--cold-runs", type=int, default=3, help="runs without bytecode caches (every module only; 0 to skip)"
    )
    args = parser.parse_args()
    print(f"# DAG parse cost ({machine_line()}; medians of {args.runs} fresh interpreters per row)\n")
    with (
        tempfile.TemporaryDirectory(prefix="p1-bench-airflow-home-") as home,
        tempfile.TemporaryDirectory(prefix="p1-bench-pycache-") as pycache,
    ):
        envs = _envs(home, pycache)
        every = SCENARIOS["every public module"]
        # warm-up: writes the bytecode cache (as an installed package has) and Airflow's config
        subprocess.run([PYTHON, "-c", _CHILD, json.dumps(every)], env=envs["warm"], capture_output=True, check=True)
        plan = [(label, modules, "warm", args.runs, KEYS[label]) for label, modules in SCENARIOS.items()]
        if args.cold_runs > 0:
            plan.append(("every public module, no .pyc (compiled from source)", every, "cold", args.cold_runs, ""))
        rows, details = [], []
        figures: dict[str, float] = {}
        targets: dict[str, Target] = {}
        for label, modules, mode, runs, key in plan:
            result = measure(modules, runs, envs[mode])
            extra = max(float(result["wall"]), float(result["importtime"]))  # type: ignore[arg-type]
            if mode == "warm":
                figures[f"import_sdk_ms_{key}"] = float(result["sdk"])  # type: ignore[arg-type]
                figures[f"extra_wall_ms_{key}"] = float(result["wall"])  # type: ignore[arg-type]
                figures[f"extra_importtime_ms_{key}"] = float(result["importtime"])  # type: ignore[arg-type]
                targets[f"extra_import_ms_{key}"] = Target.at_most(extra, TARGET_MS)
            else:
                figures["extra_ms_every_module_cold"] = extra
            target = f"<= {TARGET_MS:.0f} ms" if mode == "warm" else "(information)"
            rows.append(
                [
                    label,
                    f"{result['sdk']:.0f} ms",
                    f"{result['wall']:.1f} ms",
                    f"{result['importtime']:.1f} ms",
                    f"{min(result['walls']):.1f} ms",  # type: ignore[call-overload]
                    target,
                    verdict(extra <= TARGET_MS) if mode == "warm" else "",
                ]
            )
            details.append((label, result))
        print(
            table(
                [
                    "scenario",
                    "import airflow.sdk",
                    "extra (wall)",
                    "extra (importtime)",
                    "fastest run (wall)",
                    "target (median)",
                    "",
                ],
                rows,
                "Import cost over `import airflow.sdk` (bytecode cached unless stated)",
            )
        )
        for label, result in details:
            walls = ", ".join(f"{w:.1f}" for w in result["walls"])  # type: ignore[attr-defined]
            sums = ", ".join(f"{w:.1f}" for w in result["sums"])  # type: ignore[attr-defined]
            print(f"\n{label}:\n  runs: wall [{walls}] ms; importtime [{sums}] ms")
            third_party = [m for m in result["new"] if not m.startswith(PKG)]  # type: ignore[attr-defined]
            print(f"  modules loaded besides the provider's: {', '.join(third_party) or 'none'}")
            heavy = ", ".join(f"{name} {ms:.1f}" for ms, name in result["heavy"])  # type: ignore[attr-defined]
            print(f"  heaviest (median ms; 'self' = the module's own code): {heavy}")
        built = construct(envs["warm"])
    print()
    if "error" in built:
        print("Constructing the operators failed:\n" + str(built["error"]))
        targets["constructor_socket_connects"] = Target.at_most(None, 0)
        targets["constructor_connection_lookups"] = Target.at_most(None, 0)
        report("parse_cost", figures, targets)
        return 1
    lookups = int(built["get_connection"]) + int(built["aget_connection"])  # type: ignore[call-overload]
    targets["constructor_socket_connects"] = Target.at_most(int(built["connect"]), 0)  # type: ignore[call-overload]
    targets["constructor_connection_lookups"] = Target.at_most(lookups, 0)
    print(
        table(
            ["constructed", "socket connects", "connection lookups", "target", ""],
            [
                [
                    ", ".join(built["built"]),  # type: ignore[arg-type]
                    built["connect"],
                    lookups,
                    "0 and 0",
                    verdict(int(built["connect"]) + lookups == 0),  # type: ignore[call-overload]
                ]
            ],
            "Constructors: no network call, no connection lookup",
        )
    )
    print(
        f"\n{len(built['built'])} objects of {len(set(built['built']))} classes. The API's data classes "  # type: ignore[arg-type]
        "(api.models) loaded by constructing the six deploy / housekeeping / batch operators (literal IP rules "
        f"included): {'yes' if built.get('models_at_parse') else 'no'}."
    )
    print()
    report("parse_cost", figures, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
