"""Additive sufficient statistics the models are fitted from, and the linear solver of the ridge fit."""

from __future__ import annotations

from collections.abc import Sequence


class NaiveBayesCounts:
    """Class counts and per-feature (bucket, class) counts; additive."""

    def __init__(self, widths: Sequence[int], n_classes: int) -> None:
        self.widths = list(widths)
        self.n_classes = n_classes
        self.classes = [0] * n_classes
        self.table = [[[0] * n_classes for _ in range(width)] for width in self.widths]

    def add(self, buckets: Sequence[int], cls: int) -> None:
        self.classes[cls] += 1
        for feature_table, bucket in zip(self.table, buckets, strict=False):
            feature_table[bucket][cls] += 1

    def combine(self, others: Sequence[NaiveBayesCounts], sign: int = 1) -> NaiveBayesCounts:
        result = NaiveBayesCounts(self.widths, self.n_classes)
        for source, factor in [(self, 1), *((o, sign) for o in others)]:
            for c in range(self.n_classes):
                result.classes[c] += factor * source.classes[c]
            for f, feature_table in enumerate(source.table):
                for b, row in enumerate(feature_table):
                    target = result.table[f][b]
                    for c in range(self.n_classes):
                        target[c] += factor * row[c]
        return result


class RidgeMoments:
    """X'X, X'y and y'y of a design matrix with a leading intercept column; additive."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.n = 0
        self.xtx = [[0.0] * width for _ in range(width)]
        self.xty = [0.0] * width

    def add(self, x: Sequence[float], y: float) -> None:
        self.n += 1
        nonzero = [(j, v) for j, v in enumerate(x) if v != 0.0]
        for a, (ja, va) in enumerate(nonzero):
            row = self.xtx[ja]
            self.xty[ja] += va * y
            for jb, vb in nonzero[a:]:
                row[jb] += va * vb

    def combine(self, others: Sequence[RidgeMoments], sign: int = 1) -> RidgeMoments:
        result = RidgeMoments(self.width)
        for source, factor in [(self, 1), *((o, sign) for o in others)]:
            result.n += factor * source.n
            for i in range(self.width):
                result.xty[i] += factor * source.xty[i]
                target, row = result.xtx[i], source.xtx[i]
                for j in range(i, self.width):
                    target[j] += factor * row[j]
        return result


def solve_linear(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``matrix @ x = vector`` by Gaussian elimination with partial pivoting."""
    n = len(vector)
    a = [[*list(row), vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12:
            a[pivot][col] = 1e-12 if a[pivot][col] >= 0 else -1e-12
        a[col], a[pivot] = a[pivot], a[col]
        pivot_row = a[col]
        inverse = 1.0 / pivot_row[col]
        for r in range(col + 1, n):
            factor = a[r][col] * inverse
            if factor:
                row = a[r]
                for k in range(col, n + 1):
                    row[k] -= factor * pivot_row[k]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        total = a[i][n] - sum(a[i][k] * x[k] for k in range(i + 1, n))
        x[i] = total / a[i][i]
    return x
