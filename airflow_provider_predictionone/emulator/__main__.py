"""Command line: ``predictionone-emulator`` / ``python -m airflow_provider_predictionone.emulator``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_predictionone.emulator.faults.kinds import FaultError
from airflow_provider_predictionone.emulator.faults.specs import parse_fault_spec, parse_job_failure_spec
from airflow_provider_predictionone.emulator.paths import CONTROL_PREFIX
from airflow_provider_predictionone.emulator.server import DEFAULT_SECRET_KEY, Emulator

SECRET_KEYS_ENV = "PREDICTIONONE_EMULATOR_SECRET_KEYS"
"""Comma-separated secret keys, used when no ``--secret-key`` is given."""
READY_LINE = "Prediction One emulator listening on {url}"


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _fault(text: str) -> dict[str, object]:
    try:
        return parse_fault_spec(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _job_failure(text: str) -> dict[str, object]:
    try:
        return parse_job_failure_spec(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FAULT_HELP = (
    "inject a fault; repeatable. SPEC = [METHOD:]ROUTE:KIND[:COUNT][:ARG]. ROUTE: a route name as in "
    "request_count ('/models/results', '/api-key', 'upload', 'download', 'inference', ...) or '*'. "
    "KIND: an HTTP status (500, 503, 429, ...; ARG = Retry-After seconds), html (ARG = status, default 502), "
    "latency (ARG = seconds), drop, drop-mid-response, drop-mid-upload, expire-keys (ARG = lifetime of new keys), "
    "corrupt-upload (upload only: store altered bytes, the ETag no longer matches), fail-classifier "
    "(/classifiers only: the created prediction API ends in 'failed'). "
    "COUNT: number of calls (default 1) or '*' for all. Examples: /models/results:503:2:5, *:latency:*:0.5, "
    "PUT:upload:drop-mid-upload, upload:corrupt-upload:2, /classifiers:fail-classifier"
)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="predictionone-emulator",
        description="Run a local emulator of the Sony Prediction One cloud REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind; 0 picks a free one (default: 8765)")
    parser.add_argument(
        "--secret-key",
        action="append",
        dest="secret_keys",
        metavar="KEY",
        help=f"accepted secret key, one user each; repeatable (default: ${SECRET_KEYS_ENV} or {DEFAULT_SECRET_KEY!r})",
    )
    parser.add_argument(
        "--train-seconds", type=_non_negative, default=5.0, help="duration of a training or retraining job (default: 5)"
    )
    parser.add_argument(
        "--build-seconds",
        type=_non_negative,
        default=2.0,
        help="duration of prediction-API building/stopping/updating (default: 2)",
    )
    parser.add_argument(
        "--key-lifetime",
        type=_non_negative,
        default=3600.0,
        help="validity of issued API keys in seconds (default: 3600)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder for uploads, models and results (default: a temporary folder removed on exit)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    faults = parser.add_argument_group("fault injection (see docs/emulator.md)")
    faults.add_argument(
        "--fault", action="append", dest="faults", type=_fault, default=[], metavar="SPEC", help=FAULT_HELP
    )
    faults.add_argument(
        "--fail-next-job",
        action="append",
        dest="job_failures",
        type=_job_failure,
        default=[],
        metavar="KIND[:MESSAGE]",
        help="make the next training (KIND=train), retraining (retrain) or any (any) job fail with MESSAGE; repeatable",
    )
    faults.add_argument(
        "--enable-control",
        action="store_true",
        help=f"serve the HTTP control endpoints under {CONTROL_PREFIX}/ (no API key needed; default: off)",
    )
    return parser


def _log_faults_to_stderr() -> None:
    """Show the INFO lines of fired faults on stderr."""
    logger = logging.getLogger("airflow_provider_predictionone.emulator.faults")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _secret_keys(given: list[str] | None) -> tuple[list[str], str]:
    if given:
        return given, "--secret-key"
    from_env = [k.strip() for k in os.environ.get(SECRET_KEYS_ENV, "").split(",") if k.strip()]
    if from_env:
        return from_env, SECRET_KEYS_ENV
    return [DEFAULT_SECRET_KEY], "default"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; return the exit status."""
    args = build_parser().parse_args(argv)
    keys, origin = _secret_keys(args.secret_keys)
    emulator = Emulator(
        host=args.host,
        port=args.port,
        secret_keys=keys,
        train_seconds=args.train_seconds,
        build_seconds=args.build_seconds,
        key_lifetime=args.key_lifetime,
        data_dir=args.data_dir,
        verbose=args.verbose,
        enable_control=args.enable_control,
    )
    for spec in args.faults:
        emulator.faults.add(**spec)
    for spec in args.job_failures:
        emulator.fail_next_job(**spec)
    if args.faults or args.job_failures or args.enable_control:
        _log_faults_to_stderr()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            emulator.start()
        except OSError as exc:
            print(f"predictionone-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(READY_LINE.format(url=emulator.url), flush=True)
        if origin == "default":
            print(
                f"No secret key configured: using the default secret key {DEFAULT_SECRET_KEY!r}.",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(f"Accepting {len(keys)} secret key(s) from {origin}.", file=sys.stderr, flush=True)
        print(
            f"Management API base: {emulator.base_url}; data dir: {emulator.data_dir}; "
            f"train {args.train_seconds}s, build {args.build_seconds}s, key lifetime {args.key_lifetime}s.",
            file=sys.stderr,
            flush=True,
        )
        if args.faults or args.job_failures:
            print(
                f"Fault injection: {len(args.faults)} fault(s), {len(args.job_failures)} job failure(s) configured.",
                file=sys.stderr,
                flush=True,
            )
        if args.enable_control:
            print(f"Control endpoints enabled under {emulator.control_url}/.", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping the Prediction One emulator.", file=sys.stderr, flush=True)
        return 0
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
