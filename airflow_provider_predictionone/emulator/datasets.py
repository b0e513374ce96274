"""Streaming CSV reading, value parsing and column statistics for the emulator.

Standard library only. Files are never loaded whole: rows are streamed and every per-column
accumulator has a bounded size (distinct values are tracked exactly up to
:data:`DISTINCT_CAP` per column and estimated beyond it; medians and quantiles come from a
fixed-size reservoir sample).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import heapq
import io
import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_predictionone.api import contract

csv.field_size_limit(16 * 1024 * 1024)


class DataError(Exception):
    """A problem with uploaded data. A training job that hits one fails with this message."""


# ``initial_data_type`` / ``available_data_types`` codes (the real codes are undocumented, spec 4.3).
TYPE_IGNORE = 0
TYPE_NUMERIC = 1
TYPE_STRING = 2
TYPE_TEXT = 3
TYPE_DATE = 4
DATA_TYPE_NAMES = {
    TYPE_IGNORE: "ignore",
    TYPE_NUMERIC: "numeric",
    TYPE_STRING: "string",
    TYPE_TEXT: "text",
    TYPE_DATE: "date",
}

# ``time_unit_id`` codes of ``range_pick_info.date`` (undocumented upstream).
TIME_UNIT_IDS = {"year": 0, "month": 1, "day": 2, "hour": 3, "minute": 4}

COLUMN_INFO_TYPES = frozenset({t.value for t in contract.ColumnType} | {"integer", "ignore"})
"""Column-info types the emulator accepts: the contract's plus the desktop ``integer``/``ignore``."""

DISTINCT_CAP = 5_000
RESERVOIR_SIZE = 2_000
SAMPLE_ROW_COUNT = 10
TOP_VALUES = contract.MAX_CLASSES
CLASSIFY_VALUE_COUNT = 20
ID_LIKE_MIN_ROWS = 20
TEXT_MIN_AVG_LENGTH = 20

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DATE_YMD = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?$")
_DATE_YM = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_DATE_YMD8 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_YM6 = re.compile(r"^(\d{4})(\d{2})$")
_DATE_DMY = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_DATE_Y = re.compile(r"^(\d{4})$")
_DATE_MON_YY = re.compile(r"^([A-Za-z]{3})-(\d{2})$")


def is_missing(value: str) -> bool:
    """Missing values are empty (or blank) strings (spec 6)."""
    return not value or value.isspace()


def parse_number(value: str) -> float | None:
    """A plain decimal number, or ``None``. ``nan``/``inf`` and thousands separators are not numbers."""
    text = value.strip()
    if not text or not _NUMBER_RE.match(text):
        return None
    result = float(text)
    return result if math.isfinite(result) else None


def parse_date(value: str) -> tuple[float, str] | None:
    """Parse one of the documented date layouts (spec 6) into (UTC epoch seconds, finest unit)."""
    text = value.strip()
    parts: tuple[int, ...]
    unit = "day"
    match = _DATE_YMD.match(text)
    if match:
        y, mo, d = int(match[1]), int(match[2]), int(match[3])
        hh = int(match[4]) if match[4] else 0
        mm = int(match[5]) if match[5] else 0
        if match[4]:
            unit = "hour" if mm == 0 else "minute"
        parts = (y, mo, d, hh, mm)
    elif match := _DATE_YM.match(text):
        parts, unit = (int(match[1]), int(match[2]), 1, 0, 0), "month"
    elif match := _DATE_YMD8.match(text):
        parts = (int(match[1]), int(match[2]), int(match[3]), 0, 0)
    elif match := _DATE_YM6.match(text):
        parts, unit = (int(match[1]), int(match[2]), 1, 0, 0), "month"
    elif match := _DATE_DMY.match(text):
        parts = (int(match[3]), int(match[2]), int(match[1]), 0, 0)
    elif match := _DATE_Y.match(text):
        parts, unit = (int(match[1]), 1, 1, 0, 0), "year"
    elif match := _DATE_MON_YY.match(text):
        month = _MONTHS.get(match[1].lower())
        if month is None:
            return None
        now_year = datetime.now(timezone.utc).year
        year = 2000 + int(match[2])
        if year > now_year + 20:
            year -= 100
        if year < now_year - 80:
            return None
        parts, unit = (year, month, 1, 0, 0), "month"
    else:
        return None
    y, mo, d, hh, mm = parts
    if not 1970 <= y <= 3999:
        return None
    try:
        moment = datetime(y, mo, d, hh, mm, tzinfo=timezone.utc)
    except ValueError:
        return None
    return moment.timestamp(), unit


def to_number(value: str, *, date: bool) -> float | None:
    """Numeric value of a cell for a numeric (or date, as epoch seconds) feature."""
    if is_missing(value):
        return None
    if date:
        parsed = parse_date(value)
        return parsed[0] if parsed else None
    return parse_number(value)


# --------------------------------------------------------------------------------------------
# Row streaming
# --------------------------------------------------------------------------------------------


def _detect_delimiter(path: Path) -> str:
    with path.open("rb") as handle:
        first = handle.readline(1024 * 1024)
    return "\t" if b"\t" in first and b"," not in first else ","


def open_text(path: Path) -> io.TextIOWrapper:
    """Open a data file as UTF-8 text (a BOM is tolerated), universal newlines left to ``csv``."""
    return open(path, encoding="utf-8-sig", newline="")


@contextmanager
def open_rows(path: Path) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """Context manager giving ``(header, rows)``: the header and an iterator over the data rows.

    Blank lines are skipped; rows with a different number of fields, duplicate or empty column
    names and text that is not UTF-8 raise :class:`DataError`.
    """
    delimiter = _detect_delimiter(path)
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            while header is not None and not header:
                header = next(reader, None)
        except UnicodeDecodeError as exc:
            raise DataError(f"The file is not UTF-8 text: {exc.reason} at byte {exc.start}.") from exc
        except csv.Error as exc:
            raise DataError(f"The file is not a readable CSV file: {exc}.") from exc
        if header is None:
            raise DataError("The file is empty: a header row with the column names is required.")
        header = [name.strip() for name in header]
        if any(not name for name in header):
            raise DataError("The header row contains an empty column name.")
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise DataError(f"The column name {name!r} appears more than once in the header row.")
            seen.add(name)

        def rows() -> Iterator[list[str]]:
            try:
                for row in reader:
                    if not row or (len(row) == 1 and not row[0] and len(header) > 1):
                        continue
                    if len(row) != len(header):
                        raise DataError(
                            f"Line {reader.line_num} has {len(row)} fields but the header has {len(header)}; "
                            "every row must have the same number of columns."
                        )
                    yield row
            except UnicodeDecodeError as exc:
                raise DataError(f"The file is not UTF-8 text: {exc.reason} near line {reader.line_num}.") from exc
            except csv.Error as exc:
                raise DataError(f"The file is not a readable CSV file (line {reader.line_num}): {exc}.") from exc

        yield header, rows()


def read_header(path: Path) -> list[str]:
    """Only the header row of a data file."""
    with open_rows(path) as (header, _rows):
        return header


def read_column_info(path: Path) -> dict[str, str]:
    """Parse a column-info file (spec 4.2.2) into ``{column name: column type}`` (in file order)."""
    try:
        with path.open(encoding=contract.COLUMN_INFO_ENCODING, newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise DataError(f"The column-info file is not UTF-8 text: {exc.reason}.") from exc
    except csv.Error as exc:
        raise DataError(f"The column-info file is not a readable CSV file: {exc}.") from exc
    if not rows:
        raise DataError("The column-info file is empty.")
    header = tuple(cell.strip().lower() for cell in rows[0])
    if header != contract.COLUMN_INFO_HEADER:
        raise DataError(
            f"The column-info file must start with the header {','.join(contract.COLUMN_INFO_HEADER)}; "
            f"found {','.join(rows[0])}."
        )
    result: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise DataError(f"Line {number} of the column-info file must have exactly 2 fields.")
        name, column_type = row[0].strip(), row[1].strip().lower()
        if column_type not in COLUMN_INFO_TYPES:
            raise DataError(
                f"Line {number} of the column-info file: unknown column type {row[1]!r} "
                f"(allowed: {', '.join(sorted(COLUMN_INFO_TYPES))})."
            )
        if name in result:
            raise DataError(f"The column-info file lists the column {name!r} twice.")
        result[name] = column_type
    return result


def check_column_info(column_types: dict[str, str], header: list[str]) -> None:
    """The column-info file must describe exactly the columns of the data file (any order)."""
    missing = [name for name in header if name not in column_types]
    extra = [name for name in column_types if name not in header]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"columns of the data missing from the column-info file: {', '.join(missing)}")
        if extra:
            parts.append(f"column-info entries not in the data: {', '.join(extra)}")
        raise DataError("The column-info file does not match the data header (" + "; ".join(parts) + ").")


# --------------------------------------------------------------------------------------------
# Column statistics
# --------------------------------------------------------------------------------------------


class _DistinctEstimator:
    """K-minimum-values estimate of a distinct count (bounded memory)."""

    def __init__(self, k: int = 1024) -> None:
        self.k = k
        self._heap: list[float] = []  # negated hash values: max-heap of the k smallest
        self._members: set[float] = set()

    def add(self, value: str) -> None:
        digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        h = int.from_bytes(digest, "big") / 2.0**64
        if h in self._members:
            return
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, -h)
            self._members.add(h)
        elif h < -self._heap[0]:
            removed = -heapq.heappushpop(self._heap, -h)
            self._members.discard(removed)
            self._members.add(h)

    def estimate(self) -> int:
        if len(self._heap) < self.k:
            return len(self._heap)
        return int((self.k - 1) / -self._heap[0])


class _Reservoir:
    """Running min/max/sum plus a deterministic reservoir sample of numbers."""

    def __init__(self, seed: int) -> None:
        self.count = 0
        self.total = 0.0
        self.total_squares = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.sample: list[float] = []
        self._random = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.total_squares += value * value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if len(self.sample) < RESERVOIR_SIZE:
            self.sample.append(value)
        else:
            slot = self._random.randrange(self.count)
            if slot < RESERVOIR_SIZE:
                self.sample[slot] = value


class _ColumnAccumulator:
    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        self.data_count = 0
        self.missing_count = 0
        self.counts: dict[str, int] = {}
        self.overflow: _DistinctEstimator | None = None
        self.numeric_ok = True
        self.date_ok = True
        self.date_failures = 0
        self.numbers = _Reservoir(seed=index)
        self.dates = _Reservoir(seed=index + 7919)
        self.time_unit = 0
        self.consecutive = True
        self.previous_int: int | None = None
        self.total_length = 0
        self.prose_like = 0

    def add(self, value: str) -> None:
        if is_missing(value):
            self.missing_count += 1
            return
        self.data_count += 1
        if value in self.counts:
            self.counts[value] += 1
        elif self.overflow is None and len(self.counts) < DISTINCT_CAP:
            self.counts[value] = 1
        else:
            if self.overflow is None:
                self.overflow = _DistinctEstimator()
                for known in self.counts:
                    self.overflow.add(known)
            self.overflow.add(value)
        self.total_length += len(value)
        if " " in value.strip() or "\u3000" in value or not value.isascii():
            self.prose_like += 1  # words separated by spaces, or Japanese (non-ASCII) prose
        number = parse_number(value)
        if number is None:
            self.numeric_ok = False
            self.consecutive = False
        else:
            self.numbers.add(number)
            if self.consecutive:
                if number.is_integer() and (self.previous_int is None or int(number) == self.previous_int + 1):
                    self.previous_int = int(number)
                else:
                    self.consecutive = False
        # Dates are parsed until it is clear the column is no date column (bounded cost).
        if self.date_failures <= 100 or self.date_failures <= self.dates.count:
            parsed = parse_date(value)
            if parsed is None:
                self.date_ok = False
                self.date_failures += 1
            else:
                self.dates.add(parsed[0])
                self.time_unit = max(self.time_unit, TIME_UNIT_IDS[parsed[1]])
        else:
            self.date_ok = False

    def summary(self) -> ColumnSummary:
        unique = len(self.counts) if self.overflow is None else max(self.overflow.estimate(), DISTINCT_CAP + 1)
        if self.data_count == 0:
            inferred = TYPE_IGNORE
        elif self.numeric_ok:
            inferred = TYPE_NUMERIC
        elif self.date_ok:
            inferred = TYPE_DATE
        elif self.total_length / self.data_count >= TEXT_MIN_AVG_LENGTH and self.prose_like * 2 >= self.data_count:
            inferred = TYPE_TEXT
        else:
            inferred = TYPE_STRING
        top = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
        numbers, dates = self.numbers, self.dates
        return ColumnSummary(
            index=self.index,
            name=self.name,
            inferred_type=inferred,
            data_count=self.data_count,
            missing_count=self.missing_count,
            unique_count=unique,
            unique_exact=self.overflow is None,
            top_values=top,
            number_count=numbers.count,
            minimum=numbers.minimum if numbers.count else None,
            maximum=numbers.maximum if numbers.count else None,
            mean=numbers.total / numbers.count if numbers.count else None,
            std=_std(numbers),
            sample=sorted(numbers.sample),
            date_count=dates.count,
            date_min=dates.minimum if dates.count else None,
            date_max=dates.maximum if dates.count else None,
            date_mean=dates.total / dates.count if dates.count else None,
            date_std=_std(dates),
            date_sample=sorted(dates.sample),
            time_unit_id=self.time_unit,
            consecutive_integers=bool(self.numeric_ok and self.consecutive and self.data_count),
        )


def _std(reservoir: _Reservoir) -> float | None:
    if not reservoir.count:
        return None
    mean = reservoir.total / reservoir.count
    variance = max(reservoir.total_squares / reservoir.count - mean * mean, 0.0)
    return math.sqrt(variance)


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile of an already sorted list."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass
class ColumnSummary:
    """Statistics of one column (the median and quantiles are estimated from a reservoir sample)."""

    index: int
    name: str
    inferred_type: int
    data_count: int
    missing_count: int
    unique_count: int
    unique_exact: bool
    top_values: list[tuple[str, int]]
    number_count: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    sample: list[float] = field(default_factory=list)
    date_count: int = 0
    date_min: float | None = None
    date_max: float | None = None
    date_mean: float | None = None
    date_std: float | None = None
    date_sample: list[float] = field(default_factory=list)
    time_unit_id: int = 0
    consecutive_integers: bool = False

    @property
    def median(self) -> float | None:
        return quantile(self.sample, 0.5)

    @property
    def useless_reason(self) -> str | None:
        """Why the column cannot help a model (all missing, constant, ID-like), or ``None``."""
        if self.data_count == 0:
            return "all values are missing"
        if self.unique_count <= 1:
            return "the column is constant"
        if self.data_count >= ID_LIKE_MIN_ROWS and self.missing_count == 0:
            needed = self.data_count if self.unique_exact else 0.95 * self.data_count
            all_different = self.unique_count >= needed
            if self.inferred_type == TYPE_STRING and all_different:
                return "every value is different (ID-like)"
            if self.inferred_type == TYPE_NUMERIC and self.consecutive_integers:
                return "consecutive integers (row number)"
        return None

    def available_types(self) -> list[int]:
        if self.inferred_type == TYPE_NUMERIC:
            return [TYPE_NUMERIC, TYPE_STRING, TYPE_IGNORE]
        if self.inferred_type == TYPE_DATE:
            return [TYPE_DATE, TYPE_STRING, TYPE_IGNORE]
        if self.inferred_type == TYPE_TEXT:
            return [TYPE_TEXT, TYPE_STRING, TYPE_IGNORE]
        if self.inferred_type == TYPE_STRING:
            return [TYPE_STRING, TYPE_TEXT, TYPE_IGNORE]
        return [TYPE_IGNORE]

    def to_api(self) -> dict[str, Any]:
        """The ``training_data_columns[]`` entry of Train Data Set Info (spec 4.3)."""
        classify_value: list[dict[str, Any]] = []
        numerical_value: list[dict[str, Any]] = []
        range_pick_info: dict[str, Any] | None = None
        if self.inferred_type in (TYPE_STRING, TYPE_TEXT, TYPE_DATE):
            classify_value = [{"name": name, "value": count} for name, count in self.top_values[:CLASSIFY_VALUE_COUNT]]
        if self.inferred_type == TYPE_NUMERIC and self.minimum is not None:
            numerical_value = [
                {
                    "max_value": self.maximum,
                    "min_value": self.minimum,
                    "avg_value": self.mean,
                    "median_value": self.median,
                }
            ]
            range_pick_info = {
                "numeric": {"max_val": self.maximum, "min_val": self.minimum, "initial_threshold": self.median},
                "date": None,
            }
        elif self.inferred_type == TYPE_DATE and self.date_min is not None:
            median = quantile(self.date_sample, 0.5)
            range_pick_info = {
                "numeric": None,
                "date": {
                    "max_epoc_sec": int(self.date_max or 0),
                    "min_epoc_sec": int(self.date_min),
                    "initial_threshold_epoc_sec": int(median or 0),
                    "time_unit_id": self.time_unit_id,
                },
            }
        return {
            "column_id": self.index,
            "name": self.name,
            "initial_data_type": self.inferred_type,
            "available_data_types": self.available_types(),
            "unique_count": self.unique_count,
            "data_count": self.data_count,
            "missing_count": self.missing_count,
            "cor_score": None,
            "classify_value": classify_value,
            "numerical_value": numerical_value,
            "range_pick_info": range_pick_info,
        }


@dataclass
class DatasetStats:
    """Everything one streaming pass learns about a data file."""

    header: list[str]
    row_count: int
    sample_rows: list[str]
    columns: list[ColumnSummary]

    def column(self, name: str) -> ColumnSummary:
        return self.columns[self.header.index(name)]

    @property
    def useless_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.useless_reason is not None]

    def to_api(self) -> dict[str, Any]:
        """The Train Data Set Info response body (spec 4.3)."""
        return {
            "raw_column_names": list(self.header),
            "raw_training_data": [{"row_data": row} for row in self.sample_rows],
            "training_data_columns": [c.to_api() for c in self.columns],
            "useless_column_list": self.useless_columns,
            "trainingdata_row_count": self.row_count,
        }


def _raw_line(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(row)
    return buffer.getvalue()


def analyze(path: Path) -> DatasetStats:
    """Stream a data file once and compute its column statistics."""
    with open_rows(path) as (header, rows):
        accumulators = [_ColumnAccumulator(i, name) for i, name in enumerate(header)]
        sample_rows: list[str] = []
        count = 0
        for row in rows:
            count += 1
            if len(sample_rows) < SAMPLE_ROW_COUNT:
                sample_rows.append(_raw_line(row))
            for accumulator, value in zip(accumulators, row, strict=False):
                accumulator.add(value)
        return DatasetStats(
            header=header,
            row_count=count,
            sample_rows=sample_rows,
            columns=[a.summary() for a in accumulators],
        )


def quantile_edges(sorted_sample: list[float], bins: int) -> list[float]:
    """Distinct inner bin edges splitting a sample into ``bins`` quantile bins."""
    edges: list[float] = []
    for i in range(1, bins):
        value = quantile(sorted_sample, i / bins)
        if value is not None and (not edges or value > edges[-1]):
            edges.append(value)
    return edges


def bin_index(edges: list[float], value: float) -> int:
    """Index of the quantile bin holding ``value`` (0 .. len(edges))."""
    return bisect.bisect_right(edges, value)
