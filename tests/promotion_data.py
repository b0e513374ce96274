"""Retraining data for the promotion gate's tests, made from the bundled sample files.

On the emulator (measured: AUC on the 500 rows of ``customers_eval.csv``) the model trained on
``customers_train.csv`` has 0.805; retrained on ``customers_retrain.csv`` alone 0.803 (a hair worse:
the gate keeps the served model); on both files together 0.808 (better: the gate switches); on
``customers_retrain.csv`` with its labels shuffled 0.48 (a broken export: the gate keeps the served model).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "dags_examples" / "data"
TARGET = "プレミアム購入"


def shuffled_labels(path: Path) -> Path:
    """The bundled retrain file with its target column shuffled: a broken export."""
    with (DATA / "customers_retrain.csv").open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    at = header.index(TARGET)
    labels = [row[at] for row in rows]
    random.Random(0).shuffle(labels)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([*row[:at], label, *row[at + 1 :]] for row, label in zip(rows, labels, strict=True))
    return path


def more_data(path: Path) -> Path:
    """Good data: the bundled training file and the new rows together (the served model's data and more)."""
    train = (DATA / "customers_train.csv").read_text(encoding="utf-8")
    new_rows = (DATA / "customers_retrain.csv").read_text(encoding="utf-8").split("\n", 1)[1]
    path.write_text(train.rstrip("\n") + "\n" + new_rows, encoding="utf-8")
    return path
