"""The checks of training and evaluation files before an upload (``api/datafiles.py``): what is read
(the header and at most the first 1000 data rows), what is refused and what only warns."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api import contract as c
from airflow_provider_predictionone.api.datafiles import (
    SAMPLE_ROWS,
    check_training_files,
    parse_column_info,
    read_csv_header,
    sample_rows,
)
from airflow_provider_predictionone.api.errors import PredictionOneConfigError
from airflow_provider_predictionone.api.sources import UploadSource
from tests.triggers.job_fixtures import COLUMNS, p1_hook, write_customers_csv

__all__ = ["p1_hook"]


class CountingFile(io.BytesIO):
    """A binary file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def table(rows: int, *, target: Any = None) -> str:
    """``a,b,y`` and ``rows`` rows; ``y`` alternates 0/1 unless ``target(i)`` gives it."""
    lines = ["a,b,y"] + [f"{i},x{i % 7},{i % 2 if target is None else target(i)}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_only_the_header_and_the_first_rows_of_a_big_file_are_read() -> None:
    data = table(200_000).encode()
    source = CountingFile(data)
    files = check_training_files(source, target_column="y")
    assert files.header == ["a", "b", "y"] and files.warnings == []
    # the header read (4 MiB at most: here the whole 2.6 MB file) plus the sample's chunks
    assert source.bytes_read < len(data) + 128 * 1024
    sample = sample_rows(UploadSource.of(io.BytesIO(data), param="f"), ["a", "b", "y"], param="f", target_column="y")
    assert (sample.rows, sample.complete, sample.target_values) == (SAMPLE_ROWS, False, ("0", "1"))
    big = table(2_000_000).encode()  # ~30 MB: more than the header read, far more than 1000 rows
    counting = CountingFile(big)
    check_training_files(counting)
    assert counting.bytes_read < 4 * 1024 * 1024 + 1024 * 1024


def test_quoted_line_breaks_blank_lines_bom_and_crlf_are_not_extra_rows() -> None:
    rows = [f'{i},"line one\r\nline two, still row {i}",{i % 2}' for i in range(25)]
    text = "\ufeffa,b,y\r\n" + "\r\n\r\n".join(rows) + "\r\n"
    source = UploadSource.of(io.BytesIO(text.encode()), param="training_file")
    header = read_csv_header(source, param="training_file")
    assert sample_rows(source, header, param="training_file").rows == 25


def test_row_limits_refuse_what_no_training_takes_and_warn_for_time_series_only() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"has a header but no data rows\. Prediction One trains on"):
        check_training_files(io.BytesIO(b"a,b,y\n\n\n"))
    with pytest.raises(PredictionOneConfigError, match=r"has only 19 data row\(s\)"):
        check_training_files(io.BytesIO(table(c.MIN_TIME_SERIES_ROWS - 1).encode()))
    files = check_training_files(io.BytesIO(table(c.MIN_TIME_SERIES_ROWS).encode()))
    assert len(files.warnings) == 1 and "20 data rows: enough only in time-series mode" in files.warnings[0]
    assert check_training_files(io.BytesIO(table(c.MIN_TRAINING_ROWS).encode())).warnings == []


def test_a_single_target_value_is_refused_in_a_whole_file_and_warned_about_in_a_sample() -> None:
    with pytest.raises(PredictionOneConfigError, match=r"target_column='y' has the same value '1' in all 150 data"):
        check_training_files(io.BytesIO(table(150, target=lambda _i: 1).encode()), target_column="y")
    with pytest.raises(PredictionOneConfigError, match=r"target_column='y' is empty in all 150 data rows"):
        check_training_files(io.BytesIO(table(150, target=lambda _i: " ").encode()), target_column="y")
    # One value in the first 1000 rows, another later: only a warning (the service decides a
    # classification's classes from the first 1000 rows, spec 6; a regression may be fine).
    sorted_target = table(3000, target=lambda i: int(i >= 2000)).encode()
    files = check_training_files(io.BytesIO(sorted_target), target_column="y")
    assert len(files.warnings) == 1
    assert "has the same value '0' in the first 1000 data rows" in files.warnings[0]
    assert "Shuffle the rows" in files.warnings[0]
    # Without target_column the values are not looked at.
    assert check_training_files(io.BytesIO(table(150, target=lambda _i: 1).encode())).warnings == []


def test_a_line_too_long_to_sample_leaves_the_judgement_to_the_service() -> None:
    huge = b"a,b,y\n" + b"1," + b"x" * (5 * 1024 * 1024) + b",0\n" + b"2,y,1\n"
    source = UploadSource.of(io.BytesIO(huge), param="training_file")
    sample = sample_rows(source, ["a", "b", "y"], param="training_file")
    assert (sample.rows, sample.complete) == (0, False)
    assert check_training_files(io.BytesIO(huge)).warnings == []  # nothing refused on a partial sample


def test_field_counts_and_encoding_of_the_sampled_rows_are_checked() -> None:
    ragged = table(150).replace("7,x0,1\n", '7,x0,1,"extra"\n').encode()
    with pytest.raises(PredictionOneConfigError, match=r"data row 8 \(line 9\) has 4 field\(s\) but the header has 3"):
        check_training_files(io.BytesIO(ragged))
    # Rows past the 4 MiB read with the header are still within the first 1000: checked too.
    wide = "a,b,y\n" + "".join(f"{i},{'w' * 5000},{i % 2}\n" for i in range(900))
    bad = wide.encode() + "900,年,1\n".encode("shift_jis") + b"901,x,0\n"
    with pytest.raises(PredictionOneConfigError, match=r"not UTF-8 after data row 900 \(line 902\)"):
        check_training_files(io.BytesIO(bad))


def test_the_evaluation_file_needs_rows_and_the_training_files_columns() -> None:
    training = table(150).encode()
    with pytest.raises(PredictionOneConfigError, match=r"evaluation_file \('evaluation_file'\) has a header but no"):
        check_training_files(io.BytesIO(training), io.BytesIO(b"a,b,y\n"))
    with pytest.raises(PredictionOneConfigError, match=r"training has \['a', 'b', 'y'\], evaluation has \['a', 'y'\]"):
        check_training_files(io.BytesIO(training), io.BytesIO(b"a,y\n1,2\n"))
    with pytest.raises(PredictionOneConfigError, match=r"evaluation_file \('evaluation_file'\) data row 1 \(line 2\)"):
        check_training_files(io.BytesIO(training), io.BytesIO(b"a,b,y\n1,2\n"))
    files = check_training_files(io.BytesIO(training), io.BytesIO(b"a,b,y\n1,x,0\n"))
    assert files.evaluation is not None and files.evaluation.size == 12


def test_a_column_info_file_naming_a_column_twice_is_refused() -> None:
    payload = "column_name,column_type\na,float\nb,string\na,string\n".encode("utf-8-sig")
    with pytest.raises(PredictionOneConfigError, match=r"lists the column 'a' twice \(lines 2 and 4\)"):
        parse_column_info(payload)


def test_an_upload_with_rows_for_time_series_only_warns_and_uploads(
    p1_hook: Any,
    emulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    training = write_customers_csv(tmp_path / "monthly.csv", rows=50)
    with caplog.at_level(logging.WARNING):
        upload_id = p1_hook.upload_training_data(training, COLUMNS)
    logged = caplog.text + capsys.readouterr().out  # Airflow 3 logs hooks through structlog
    assert upload_id and "('monthly.csv') has 50 data rows: enough only in time-series mode" in logged
    assert emulator.request_count("GET", "/data-sets/upload-url") == 1


def test_a_header_only_retraining_file_sends_nothing(p1_hook: Any, emulator: Any, tmp_path: Path) -> None:
    header_only = tmp_path / "retrain.csv"
    header_only.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    with pytest.raises(PredictionOneConfigError, match=r"retrain\.csv'\) has a header but no data rows"):
        p1_hook.start_retraining(1, header_only)
    assert sum(emulator.request_counts().values()) == 0
