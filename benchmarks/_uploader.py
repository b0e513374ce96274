"""Child process of ``upload.py``: one upload through the provider's code path, measured.

Modes:

* ``operator-path``: the requests of ``PredictionOneHook.upload_training_data(training_file,
  column_info)`` — what ``PredictionOneUploadDataOperator.execute`` calls — sent with the API
  client alone (:func:`_common.upload_training_data`), in a process that imports only the API
  layer (what an upload needs);
* ``airflow-task``: ``PredictionOneUploadDataOperator(...).execute(context)`` itself, in a
  process that imported Airflow (as a task process has), with a stand-in task instance;
* ``put``: ``PredictionOneClient.upload(url, source)`` to a given URL (e.g. the sink).

Prints one JSON line: the seconds the training file's PUT took, the whole call's seconds, the
RSS before the upload and the peak RSS (``VmHWM``), and the CPU seconds of the whole call and of
the training file's PUT (every thread of the process).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from _common import api_client, read_proc_status, upload_training_data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("operator-path", "airflow-task", "put"), required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--host", required=True, help="the emulator's URL")
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--url", help="upload URL for --mode put")
    parser.add_argument("--chunk-size", type=int, default=0, help="override the upload chunk size (experiments)")
    parser.add_argument("--no-md5", action="store_true", help="diagnostic: skip the MD5 of the sent bytes")
    args = parser.parse_args()

    from airflow_provider_predictionone.api import transfer
    from airflow_provider_predictionone.api.client import PredictionOneClient
    from airflow_provider_predictionone.api.sources import UploadSource

    if args.mode == "airflow-task":
        from airflow_provider_predictionone.operators import PredictionOneUploadDataOperator
    if args.no_md5:

        class NoDigest:
            def update(self, _data: Any) -> None:
                pass

            def hexdigest(self) -> str:
                return "0" * 32

        transfer._md5 = NoDigest  # type: ignore[assignment]
    timings: dict[str, float] = {}
    original_upload = PredictionOneClient.upload

    def timed_upload(self: Any, url: str, source: Any, *, label: str, **options: Any) -> None:
        if args.chunk_size:
            options.setdefault("chunk_size", args.chunk_size)
        if args.no_md5:
            options["verify_checksum"] = False
        started, cpu_started = time.perf_counter(), time.process_time()
        original_upload(self, url, source, label=label, **options)
        timings[label] = time.perf_counter() - started
        timings[label + " cpu"] = time.process_time() - cpu_started

    PredictionOneClient.upload = timed_upload  # type: ignore[method-assign]
    columns = {"age": "float", "income": "float", "region": "string", "buy": "string"}

    before = read_proc_status()
    cpu = time.process_time()
    started = time.perf_counter()
    if args.mode == "put":
        with api_client(args.secret_key, args.host) as client:
            client.upload(args.url, UploadSource.of(args.file, param="file"), label="training file")
    elif args.mode == "operator-path":
        with api_client(args.secret_key, args.host) as client:
            upload_training_data(client, args.file, columns)
    else:

        class TaskInstance:
            dag_id, task_id, run_id, map_index, try_number = "bench", "upload", "manual", -1, 1

            def xcom_push(self, key: str, value: Any) -> None:
                pass

        operator = PredictionOneUploadDataOperator(
            task_id="upload", training_file=args.file, column_info=columns, check_data=False
        )
        operator.execute({"ti": TaskInstance()})  # type: ignore[arg-type]
    total = time.perf_counter() - started
    after = read_proc_status()
    print(
        json.dumps(
            {
                "put_seconds": timings.get("training file", total),
                "total_seconds": total,
                "cpu_seconds": time.process_time() - cpu,
                "put_cpu_seconds": timings.get("training file cpu", time.process_time() - cpu),
                "rss_before_kib": before.get("VmRSS", 0),
                "rss_peak_kib": after.get("VmHWM", 0),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
