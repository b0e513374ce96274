"""The bundled sample data set (dags_examples/data) is reproducible and fit for the example DAGs."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import math
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "generate_sample_data.py"
DATA_DIR = REPO_ROOT / "dags_examples" / "data"

TRAIN = "customers_train.csv"
EVAL = "customers_eval.csv"
RETRAIN = "customers_retrain.csv"
SCORE = "customers_score.csv"
COLUMN_INFO = "column_info.csv"
GENERATED = (TRAIN, EVAL, RETRAIN, SCORE, COLUMN_INFO)
LABELLED = (TRAIN, EVAL, RETRAIN)

TARGET = "プレミアム購入"
ID_COLUMN = "顧客ID"
EXPECTED_COLUMNS: dict[str, str] = {
    "顧客ID": "string",
    "年齢": "float",
    "性別": "string",
    "職業": "string",
    "居住地域": "string",
    "年収": "float",
    "会員登録日": "date",
    "月間利用回数": "float",
    "前月利用金額": "float",
    "問い合わせ内容": "text",
    "プレミアム購入": "string",
}
ALLOWED_TYPES = {"string", "float", "date", "text"}
ROW_COUNTS = {TRAIN: 2000, EVAL: 500, RETRAIN: 2000, SCORE: 300}
COLUMNS_WITH_MISSING = ("年齢", "職業", "年収", "前月利用金額")
BOM = b"\xef\xbb\xbf"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sample_data", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _run_generator(out_dir: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out-dir", str(out_dir), *extra],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        assert reader.fieldnames is not None
        return list(reader.fieldnames), rows


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("sample-data")
    _run_generator(out_dir)
    return out_dir


@pytest.mark.parametrize("name", GENERATED)
def test_regeneration_reproduces_committed_files(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
        f"{name} differs from a fresh run of scripts/generate_sample_data.py; regenerate and commit"
    )


def test_explicit_seed_is_honoured(tmp_path: Path) -> None:
    generator = _load_generator()
    _run_generator(tmp_path / "same", "--seed", str(generator.DEFAULT_SEED))
    _run_generator(tmp_path / "other", "--seed", "1")
    assert (tmp_path / "same" / TRAIN).read_bytes() == (DATA_DIR / TRAIN).read_bytes()
    assert (tmp_path / "other" / TRAIN).read_bytes() != (DATA_DIR / TRAIN).read_bytes()


def test_column_info_has_bom_and_covers_train_header_in_order() -> None:
    raw = (DATA_DIR / COLUMN_INFO).read_bytes()
    assert raw.startswith(BOM)
    assert b"\r" not in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["column_name", "column_type"]
    train_header, _ = _read(TRAIN)
    assert [name for name, _ in rows[1:]] == train_header
    assert {kind for _, kind in rows[1:]} <= ALLOWED_TYPES
    assert dict(rows[1:]) == EXPECTED_COLUMNS


@pytest.mark.parametrize("name", ROW_COUNTS)
def test_data_file_encoding_and_shape(name: str) -> None:
    raw = (DATA_DIR / name).read_bytes()
    assert not raw.startswith(BOM)
    assert b"\r" not in raw
    assert raw.endswith(b"\n")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    header = rows[0]
    assert len(rows) - 1 == ROW_COUNTS[name]
    assert all(len(row) == len(header) for row in rows)
    # One record per physical line: the manual's inference example splits the file on newlines.
    assert raw.count(b"\n") == len(rows)


def test_headers() -> None:
    train_header, _ = _read(TRAIN)
    assert train_header == list(EXPECTED_COLUMNS)
    assert _read(EVAL)[0] == train_header
    assert _read(RETRAIN)[0] == train_header
    score_header, _ = _read(SCORE)
    assert TARGET not in score_header
    assert score_header == [c for c in train_header if c != TARGET]


@pytest.mark.parametrize("name", LABELLED)
def test_target_values_and_positive_rate(name: str) -> None:
    _, rows = _read(name)
    values = [row[TARGET] for row in rows]
    assert set(values) == {"はい", "いいえ"}
    # Prediction One decides binary vs multi-class from the first 1000 rows.
    assert set(values[:1000]) == {"はい", "いいえ"}
    assert 0.25 <= values.count("はい") / len(values) <= 0.35


def test_values_are_well_formed() -> None:
    seen_ids: set[str] = set()
    for name in ROW_COUNTS:
        _, rows = _read(name)
        ids = [row[ID_COLUMN] for row in rows]
        assert all(re.fullmatch(r"C\d{6}", i) for i in ids)
        assert ids == sorted(ids)
        assert not seen_ids & set(ids), "customer IDs must be unique across files"
        seen_ids.update(ids)
        for row in rows:
            dt.date.fromisoformat(row["会員登録日"])
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["会員登録日"])
            assert row["性別"] in {"男性", "女性"}
            assert row["居住地域"].endswith(("都", "道", "府", "県"))
            for column, kind in EXPECTED_COLUMNS.items():
                if kind == "float" and row[column]:
                    assert float(row[column]) >= 0
            assert "\n" not in row["問い合わせ内容"]


def test_missing_values() -> None:
    _, rows = _read(TRAIN)
    for column in COLUMNS_WITH_MISSING:
        rate = sum(row[column] == "" for row in rows) / len(rows)
        assert 0.005 <= rate <= 0.04, (column, rate)
    for column in (ID_COLUMN, TARGET, "会員登録日", "性別", "居住地域", "月間利用回数"):
        assert all(row[column] for row in rows), column
    text_empty = sum(row["問い合わせ内容"] == "" for row in rows) / len(rows)
    assert 0.1 <= text_empty <= 0.6


def test_retrain_data_is_newer() -> None:
    def median_date(name: str) -> str:
        dates = sorted(row["会員登録日"] for row in _read(name)[1])
        return dates[len(dates) // 2]

    assert median_date(RETRAIN) > median_date(TRAIN)
    assert median_date(SCORE) > median_date(TRAIN)
    latest_train = max(row["会員登録日"] for row in _read(TRAIN)[1])
    assert max(row["会員登録日"] for row in _read(RETRAIN)[1]) > latest_train


# --- a Naive Bayes baseline must clearly beat chance ------------------------------------------

NUMERIC = ("年齢", "年収", "月間利用回数", "前月利用金額")
CATEGORICAL = ("性別", "職業", "居住地域")


def _quintile_edges(rows: list[dict[str, str]], column: str) -> list[float]:
    values = sorted(float(row[column]) for row in rows if row[column])
    return [values[len(values) * k // 5] for k in range(1, 5)]


def _tokens(row: dict[str, str], edges: dict[str, list[float]]) -> set[str]:
    tokens = {f"{c}={row[c] or '<NA>'}" for c in CATEGORICAL}
    for column in NUMERIC:
        if row[column]:
            value = float(row[column])
            tokens.add(f"{column}#{sum(value >= edge for edge in edges[column])}")
        else:
            tokens.add(f"{column}#NA")
    tokens.add(f"year={row['会員登録日'][:4]}")
    # free text: one token per sentence (character n-grams would be counted many times over)
    text = row["問い合わせ内容"]
    tokens.update({f"t:{s}" for s in re.split(r"(?<=[。？])", text) if s} if text else {"t:<NA>"})
    return tokens


def _auc(scores: list[float], labels: list[bool]) -> float:
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank for rank, (_, label) in enumerate(ranked, start=1) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def test_naive_bayes_baseline_beats_chance() -> None:
    _, train = _read(TRAIN)
    _, evaluation = _read(EVAL)
    edges = {column: _quintile_edges(train, column) for column in NUMERIC}
    class_count: Counter[bool] = Counter()
    token_count: dict[bool, Counter[str]] = defaultdict(Counter)
    for row in train:
        label = row[TARGET] == "はい"
        class_count[label] += 1
        token_count[label].update(_tokens(row, edges))

    def log_odds(row: dict[str, str]) -> float:
        score = math.log(class_count[True] / class_count[False])
        for token in _tokens(row, edges):
            p_pos = (token_count[True][token] + 1) / (class_count[True] + 2)
            p_neg = (token_count[False][token] + 1) / (class_count[False] + 2)
            score += math.log(p_pos / p_neg)
        return score

    scores = [log_odds(row) for row in evaluation]
    labels = [row[TARGET] == "はい" for row in evaluation]
    accuracy = sum((s > 0) == y for s, y in zip(scores, labels, strict=True)) / len(labels)
    majority = max(sum(labels), len(labels) - sum(labels)) / len(labels)
    assert _auc(scores, labels) >= 0.78
    assert accuracy >= majority + 0.03


def test_total_size_is_modest() -> None:
    total = sum(path.stat().st_size for path in DATA_DIR.iterdir() if path.is_file())
    assert total < 1_500_000


def test_readme_documents_files_and_seed() -> None:
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    generator = _load_generator()
    for name in GENERATED:
        assert name in readme
    for column in EXPECTED_COLUMNS:
        assert column in readme
    assert str(generator.DEFAULT_SEED) in readme
    assert "scripts/generate_sample_data.py" in readme
