"""Quantiles of sorted samples: the median and quantiles of a column, and quantile bins of a feature."""

from __future__ import annotations

import bisect
import math


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile of an already sorted list."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


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
