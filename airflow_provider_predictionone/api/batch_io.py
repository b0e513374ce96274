"""The files of a batch: outputs written atomically (``.part`` + rename, or a local temporary
file copied to an object store), the CSV lines, and the summary of a finished batch."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from airflow_provider_predictionone.api import scratch
from airflow_provider_predictionone.api.datafiles import read_csv_header
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.sources import UploadSource, copy_to_storage, is_storage_path

INPUT_ROW_COLUMN = "input_row"
REJECTS_COLUMNS = (INPUT_ROW_COLUMN, "error", "message")
REJECTS_SUFFIX = ".rejects.csv"
PART_SUFFIX = ".part"


@dataclass
class BatchPredictionResult:
    """What a finished batch did.

    :param rows_total: data rows read from the input (blank lines not counted).
    :param rows_predicted: rows written to the output file.
    :param rows_rejected: rows written to the rejects file.
    :param rejected_fraction: ``rows_rejected / rows_total`` (0.0 for an input without data rows).
    :param seconds: wall-clock duration of the batch.
    :param rows_per_second: ``rows_total / seconds``.
    :param output_path: the predictions.
    :param rejects_path: the rejected rows.
    :param reasons_path: the prediction reasons, when they were asked for.
    :param blank_lines_skipped: empty input lines, which are not data rows.
    """

    rows_total: int
    rows_predicted: int
    rows_rejected: int
    rejected_fraction: float
    seconds: float
    rows_per_second: float
    output_path: Path
    rejects_path: Path
    reasons_path: Path | None = None
    blank_lines_skipped: int = 0

    def summary(self) -> str:
        """One line for logs: counts, throughput and where the files are."""
        text = (
            f"{self.rows_total} row(s) in {self.seconds:.1f}s ({self.rows_per_second:.1f} rows/s): "
            f"{self.rows_predicted} predicted -> {self.output_path}, "
            f"{self.rows_rejected} rejected ({self.rejected_fraction:.1%}) -> {self.rejects_path}"
        )
        if self.reasons_path is not None:
            text += f", reasons -> {self.reasons_path}"
        if self.blank_lines_skipped:
            text += f"; {self.blank_lines_skipped} blank line(s) skipped"
        return text + "."


class CsvPart:
    """A CSV written to ``<path>.part``, renamed to ``path`` by :meth:`commit`.

    For a storage path the part is a local temporary file, stream-copied to the destination by
    :meth:`commit` (object stores have no rename).
    """

    def __init__(self, path: Path | Any) -> None:
        self.path = path
        self.remote = is_storage_path(path)
        self.folder: Path | None = None
        if self.remote:
            self.folder = scratch.new_folder()
            self.part = self.folder / (Path(str(path)).name + PART_SUFFIX)
        else:
            self.part = path.with_name(path.name + PART_SUFFIX)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.part.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self._handle, lineterminator="\n")
        self.has_header = False

    def header(self, names: Sequence[str]) -> None:
        self.writer.writerow(names)
        self.has_header = True

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.remote:
            copy_to_storage(self.part, self.path)
            self._remove_part()
        else:
            os.replace(self.part, self.path)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()
        self._remove_part()

    def _remove_part(self) -> None:
        if self.folder is not None:
            scratch.remove(self.folder)
        else:
            with contextlib.suppress(OSError):
                self.part.unlink()


def output_path(path: Any) -> Any:
    """An output path: a storage path as given, anything else as a local :class:`~pathlib.Path`."""
    return path if is_storage_path(path) else Path(path)


def identity(path: Any) -> Any:
    """What makes two paths the same file: the resolved local path, or a storage path's URL."""
    return path.resolve() if isinstance(path, Path) else ("storage", str(path))


def csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text, newline="")) if row]


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def human_seconds(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def check_outputs(input_path: Any, output: Any, rejects: Any, reasons: Any) -> None:
    """Refuse outputs that are the input, the same file twice, or not files."""
    named = {"output_file": output, "rejects_file": rejects}
    if reasons is not None:
        named["reasons_file"] = reasons
    source = identity(input_path)
    seen: dict[Any, str] = {}
    for param, path in named.items():
        resolved = identity(path)
        part = resolved.with_name(resolved.name + PART_SUFFIX) if isinstance(resolved, Path) else None
        if resolved == source or part == source:
            raise PredictionOneConfigError(
                f"{param}={str(path)!r} is the input file; write the results to another path."
            )
        if resolved in seen:
            raise PredictionOneConfigError(f"{param} and {seen[resolved]} are the same file ({str(path)!r}).")
        try:
            not_a_file = path.exists() and not path.is_file()
        except Exception as exc:  # a storage path whose filesystem cannot be reached
            raise PredictionOneConfigError(
                f"{param}={str(path)!r} cannot be checked: {type(exc).__name__}: {exc}."
            ) from exc
        if not_a_file:
            raise PredictionOneConfigError(f"{param}={str(path)!r} exists and is not a file.")
        seen[resolved] = param


@dataclass(frozen=True)
class BatchFiles:
    """The input and output files of a batch, checked before any request: the input exists and is a
    UTF-8 CSV with a usable header, ``pivot_column`` is one of its columns, and no output is the
    input, another output, or something other than a file."""

    source: UploadSource
    input_path: Any
    header: list[str]
    output_path: Any
    reasons_path: Any
    rejects_path: Any

    @classmethod
    def check(
        cls,
        input_file: Any,
        output_file: Any,
        reasons_file: Any = None,
        rejects_file: Any = None,
        pivot_column: str | None = None,
    ) -> BatchFiles:
        """The files of a batch (``rejects_file`` defaults to ``<output_file>.rejects.csv``)."""
        if not isinstance(input_file, (str, os.PathLike)) and not is_storage_path(input_file):
            raise PredictionOneConfigError(f"input_file must be a file path, got {type(input_file).__name__}.")
        source = UploadSource.of(input_file, param="input_file")
        header = read_csv_header(source, param="input_file")
        if pivot_column and pivot_column not in header:
            raise PredictionOneConfigError(
                f"pivot_column={pivot_column!r} is not a column of input_file; its columns are {header}."
            )
        output = output_path(output_file)
        rejects = output.with_name(output.name + REJECTS_SUFFIX) if rejects_file is None else output_path(rejects_file)
        reasons = None if reasons_file is None else output_path(reasons_file)
        input_path = input_file if is_storage_path(input_file) else Path(input_file)
        check_outputs(input_path, output, rejects, reasons)
        return cls(source, input_path, header, output, reasons, rejects)
