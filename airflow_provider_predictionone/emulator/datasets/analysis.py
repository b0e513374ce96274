"""Column statistics in one streaming pass (:func:`analyze`), with bounded memory per column.

Distinct values are tracked exactly up to :data:`DISTINCT_CAP` per column and estimated beyond
it; medians and quantiles come from a fixed-size reservoir sample. :class:`StatsCache` keeps the
statistics of the files already analysed.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import math
import random
import threading
from pathlib import Path

from airflow_provider_predictionone.api import contract
from airflow_provider_predictionone.emulator.datasets.reading import open_rows
from airflow_provider_predictionone.emulator.datasets.summary import (
    TIME_UNIT_IDS,
    TYPE_DATE,
    TYPE_IGNORE,
    TYPE_NUMERIC,
    TYPE_STRING,
    TYPE_TEXT,
    ColumnSummary,
    DatasetStats,
    Distribution,
)
from airflow_provider_predictionone.emulator.datasets.values import is_missing, parse_date, parse_number

DISTINCT_CAP = 5_000
RESERVOIR_SIZE = 2_000
SAMPLE_ROW_COUNT = 10
TOP_VALUES = contract.MAX_CLASSES
TEXT_MIN_AVG_LENGTH = 20


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

    def distribution(self) -> Distribution:
        if not self.count:
            return Distribution()
        mean = self.total / self.count
        variance = max(self.total_squares / self.count - mean * mean, 0.0)
        return Distribution(self.count, self.minimum, self.maximum, mean, math.sqrt(variance), sorted(self.sample))


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
        return ColumnSummary(
            index=self.index,
            name=self.name,
            inferred_type=inferred,
            data_count=self.data_count,
            missing_count=self.missing_count,
            unique_count=unique,
            unique_exact=self.overflow is None,
            top_values=top,
            numbers=self.numbers.distribution(),
            dates=self.dates.distribution(),
            time_unit_id=self.time_unit,
            consecutive_integers=bool(self.numeric_ok and self.consecutive and self.data_count),
        )


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


class StatsCache:
    """The statistics of the files analysed so far, by file identity (at most 16 files)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], DatasetStats]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: Path) -> tuple[str, tuple[int, int]]:
        status = path.stat()
        # keyed by inode: the hard-linked snapshot of an upload shares its statistics
        return f"{status.st_dev}:{status.st_ino}", (status.st_size, status.st_mtime_ns)

    def cached(self, path: Path) -> DatasetStats | None:
        """Statistics of a file if they were computed already (never computes)."""
        key, signature = self._key(path)
        with self._lock:
            cached = self._cache.get(key)
        return cached[1] if cached is not None and cached[0] == signature else None

    def stats(self, path: Path) -> DatasetStats:
        """Column statistics of a file, cached by (inode, size, mtime)."""
        cached = self.cached(path)
        if cached is not None:
            return cached
        key, signature = self._key(path)
        result = analyze(path)
        with self._lock:
            if len(self._cache) >= 16:
                self._cache.clear()
            self._cache[key] = (signature, result)
        return result
