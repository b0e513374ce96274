"""Reading data files: the rows of a CSV/TSV file streamed (never loaded whole) and column-info files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_provider_predictionone.api import contract

csv.field_size_limit(16 * 1024 * 1024)


class DataError(Exception):
    """A problem with uploaded data. A training job that hits one fails with this message."""


COLUMN_INFO_TYPES = frozenset({t.value for t in contract.ColumnType} | {"integer", "ignore"})
"""Column-info types the emulator accepts: the contract's plus the desktop ``integer``/``ignore``."""


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
