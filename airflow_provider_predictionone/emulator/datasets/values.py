"""Cell values of a data file: missing values, plain numbers and the documented date layouts (spec 6)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

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
