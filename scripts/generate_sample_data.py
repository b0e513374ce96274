#!/usr/bin/env python3
"""Generate the bundled sample data set used by the example DAGs and the demo.

The data imitates the Prediction One manual's own sample: customer records (with Japanese column
names) and a binary target, プレミアム購入 (はい/いいえ), saying whether the customer bought the
premium service. The target is drawn from a logistic model of age, income, usage, tenure,
occupation, region and the topic of the last inquiry, so a model can learn it.

Standard library only. The output is deterministic: the same ``--seed`` gives byte-identical files.

Usage::

    python scripts/generate_sample_data.py                    # writes dags_examples/data/
    python scripts/generate_sample_data.py --seed 7 --out-dir /tmp/p1-data
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_SEED = 20240601
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "dags_examples" / "data"

TRAIN_FILE = "customers_train.csv"
EVAL_FILE = "customers_eval.csv"
RETRAIN_FILE = "customers_retrain.csv"
SCORE_FILE = "customers_score.csv"
COLUMN_INFO_FILE = "column_info.csv"

ID_COLUMN = "顧客ID"
TARGET_COLUMN = "プレミアム購入"
POSITIVE = "はい"
NEGATIVE = "いいえ"

# (column name, column-info type) in file order. Integer-valued columns are declared ``float``
# because ``integer`` is not verified for the cloud API (spec 7.12).
COLUMNS: tuple[tuple[str, str], ...] = (
    (ID_COLUMN, "string"),
    ("年齢", "float"),
    ("性別", "string"),
    ("職業", "string"),
    ("居住地域", "string"),
    ("年収", "float"),
    ("会員登録日", "date"),
    ("月間利用回数", "float"),
    ("前月利用金額", "float"),
    ("問い合わせ内容", "text"),
    (TARGET_COLUMN, "string"),
)
HEADER: tuple[str, ...] = tuple(name for name, _ in COLUMNS)

# Columns that receive ~2 % missing values (empty strings), each independently.
MISSING_RATE = 0.02
MISSING_COLUMNS: tuple[str, ...] = ("年齢", "職業", "年収", "前月利用金額")

# Prefecture -> population in units of 10,000 (2020 census, rounded); used as sampling weights.
PREFECTURES: tuple[tuple[str, int], ...] = (
    ("北海道", 522),
    ("青森県", 124),
    ("岩手県", 121),
    ("宮城県", 230),
    ("秋田県", 96),
    ("山形県", 107),
    ("福島県", 183),
    ("茨城県", 287),
    ("栃木県", 193),
    ("群馬県", 194),
    ("埼玉県", 734),
    ("千葉県", 628),
    ("東京都", 1405),
    ("神奈川県", 924),
    ("新潟県", 220),
    ("富山県", 103),
    ("石川県", 113),
    ("福井県", 77),
    ("山梨県", 81),
    ("長野県", 205),
    ("岐阜県", 198),
    ("静岡県", 363),
    ("愛知県", 754),
    ("三重県", 177),
    ("滋賀県", 141),
    ("京都府", 258),
    ("大阪府", 884),
    ("兵庫県", 547),
    ("奈良県", 132),
    ("和歌山県", 92),
    ("鳥取県", 55),
    ("島根県", 67),
    ("岡山県", 189),
    ("広島県", 280),
    ("山口県", 134),
    ("徳島県", 72),
    ("香川県", 95),
    ("愛媛県", 133),
    ("高知県", 69),
    ("福岡県", 514),
    ("佐賀県", 81),
    ("長崎県", 131),
    ("熊本県", 174),
    ("大分県", 112),
    ("宮崎県", 107),
    ("鹿児島県", 159),
    ("沖縄県", 147),
)
METROPOLITAN = frozenset({"東京都", "神奈川県", "埼玉県", "千葉県", "愛知県", "京都府", "大阪府", "兵庫県", "福岡県"})

# Occupation -> (median personal income in 万円, log-normal sigma, effect on the purchase logit).
OCCUPATIONS: dict[str, tuple[float, float, float]] = {
    "会社員": (450.0, 0.35, 0.0),
    "公務員": (560.0, 0.25, 0.2),
    "自営業": (400.0, 0.60, 0.3),
    "経営者": (900.0, 0.50, 0.6),
    "パート・アルバイト": (140.0, 0.35, -0.3),
    "学生": (60.0, 0.60, -0.6),
    "主婦・主夫": (40.0, 0.90, 0.1),
    "無職": (110.0, 0.60, -0.4),
}

# Inquiry topic -> (sampling weight, effect on the purchase logit, sentences). A few sentences
# carry an ASCII comma or double quote so that consumers must honour CSV quoting.
TOPICS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "premium": (
        0.12,
        1.3,
        (
            "プレミアムプランの特典を詳しく知りたいです。",
            "プレミアム会員になると利用料金は割引されますか？",
            "プレミアムプランの無料体験はありますか？",
            'プラン"ゴールド"と"シルバー"の違いを教えてください。',
            "上位プランへの切り替え方法を教えてください。",
            "プレミアム限定の機能を使ってみたいです。",
        ),
    ),
    "pricing": (
        0.15,
        0.3,
        (
            "月額料金の支払い方法を変更したいです。",
            "請求金額が先月と違う理由を知りたいです。",
            "クレジットカード以外の支払い方法はありますか？",
            "年払い, 月払いのどちらがお得ですか？",
            "領収書の発行はできますか？",
        ),
    ),
    "howto": (
        0.20,
        0.1,
        (
            "アプリの使い方がよく分かりません。",
            "お気に入り機能の使い方を教えてください。",
            "アプリ版とWeb版, どちらでも同じサービスを使えますか？",
            "家族と一緒に利用することはできますか？",
            "通知の設定を変更する方法を知りたいです。",
            "スマートフォンを機種変更した後の引き継ぎ手順を教えてください。",
        ),
    ),
    "trouble": (
        0.18,
        -0.2,
        (
            "ログインできなくなりました。",
            "アプリが起動直後に落ちてしまいます。",
            "パスワード再設定のメールが届きません。",
            "決済画面でエラーが表示されます。",
            "画面の読み込みがとても遅いです。",
        ),
    ),
    "complaint": (
        0.10,
        -0.5,
        (
            "問い合わせへの返信が遅いです。",
            "サポートの対応に不満があります。",
            "最近サービスの品質が下がったと感じます。",
            "料金の割に内容が物足りないです。",
        ),
    ),
    "cancel": (
        0.10,
        -1.3,
        (
            "解約の手続き方法を教えてください。",
            "退会したいのですがどうすればよいですか？",
            "自動更新を止めたいです。",
            "他社のサービスに乗り換えを検討しています。",
        ),
    ),
    "account": (
        0.15,
        0.0,
        (
            "登録しているメールアドレスを変更したいです。",
            "住所変更の手続きについて教えてください。",
            "登録情報の確認方法を知りたいです。",
        ),
    ),
}
INQUIRY_RATE = 0.65
# Empty entries repeat so that a bare sentence is the most common form.
INQUIRY_PREFIXES: tuple[str, ...] = (
    "",
    "",
    "",
    "すみません、",
    "お世話になっております。",
    "初めて問い合わせます。",
)
INQUIRY_SUFFIXES: tuple[str, ...] = (
    "",
    "",
    "",
    "よろしくお願いします。",
    "至急対応をお願いします。",
    "返信お待ちしています。",
)


@dataclass(frozen=True)
class Cohort:
    """How one file's customers are drawn; the retrain and score cohorts are "newer" data."""

    rows: int
    id_low: int
    id_high: int
    registered_from: dt.date
    registered_to: dt.date
    snapshot: dt.date
    later_skew: bool
    age_mean: float
    usage_multiplier: float
    income_multiplier: float
    intercept: float


# Scales every effect in the purchase logit: larger is easier to learn. With 1.5 the true
# probabilities rank customers with an AUC of about 0.86. The intercept is calibrated so the
# labelled files have roughly 30 % positives.
SIGNAL_STRENGTH = 1.5
BASE_INTERCEPT = -2.1
# train and eval are one cohort, split at random afterwards.
TRAIN_EVAL_COHORT = Cohort(
    rows=2500,
    id_low=1,
    id_high=4000,
    registered_from=dt.date(2015, 4, 1),
    registered_to=dt.date(2023, 12, 31),
    snapshot=dt.date(2024, 1, 1),
    later_skew=False,
    age_mean=45.0,
    usage_multiplier=1.0,
    income_multiplier=1.0,
    intercept=BASE_INTERCEPT,
)
RETRAIN_COHORT = Cohort(
    rows=2000,
    id_low=4001,
    id_high=7000,
    registered_from=dt.date(2019, 1, 1),
    registered_to=dt.date(2025, 6, 30),
    snapshot=dt.date(2025, 7, 1),
    later_skew=True,
    age_mean=42.0,
    usage_multiplier=1.15,
    income_multiplier=1.03,
    intercept=BASE_INTERCEPT + 0.25,
)
SCORE_COHORT = replace(RETRAIN_COHORT, rows=300, id_low=7001, id_high=7500)
EVAL_ROWS = 500


@dataclass(frozen=True)
class Customer:
    """One generated customer; ``None`` fields are written as empty strings (missing)."""

    customer_id: str
    age: int | None
    gender: str
    occupation: str | None
    prefecture: str
    income: float | None
    registered: dt.date
    monthly_visits: int
    last_month_spend: int | None
    inquiry: str
    purchased: bool

    def to_row(self, with_target: bool = True) -> list[str]:
        row = [
            self.customer_id,
            "" if self.age is None else str(self.age),
            self.gender,
            self.occupation or "",
            self.prefecture,
            "" if self.income is None else f"{self.income:.1f}",
            self.registered.isoformat(),
            str(self.monthly_visits),
            "" if self.last_month_spend is None else str(self.last_month_spend),
            self.inquiry,
        ]
        if with_target:
            row.append(POSITIVE if self.purchased else NEGATIVE)
        return row


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small rates used here (lam < 100)."""
    limit = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick_occupation(rng: random.Random, age: int, gender: str) -> str:
    if age < 23:
        table = {"学生": 60, "パート・アルバイト": 20, "会社員": 15, "無職": 5}
    elif age < 65:
        homemaker = 14 if gender == "女性" else 1
        table = {
            "会社員": 50,
            "公務員": 9,
            "自営業": 10,
            "経営者": 3,
            "パート・アルバイト": 12,
            "主婦・主夫": homemaker,
            "無職": 4,
            "学生": 3 if age < 27 else 0,
        }
    else:
        homemaker = 14 if gender == "女性" else 2
        table = {
            "無職": 45,
            "自営業": 14,
            "パート・アルバイト": 14,
            "会社員": 7,
            "経営者": 5,
            "主婦・主夫": homemaker,
        }
    names = list(table)
    return rng.choices(names, weights=[table[n] for n in names])[0]


def _income(rng: random.Random, occupation: str, age: int, multiplier: float) -> float:
    median, sigma, _ = OCCUPATIONS[occupation]
    if occupation in ("会社員", "公務員"):
        # seniority-based pay: rises until the mid-fifties
        median *= 1.0 + 0.025 * (min(age, 55) - 40)
    if occupation == "主婦・主夫" and rng.random() < 0.3:
        return 0.0
    return round(median * multiplier * rng.lognormvariate(0.0, sigma), 1)


def _registration_date(rng: random.Random, cohort: Cohort) -> dt.date:
    span = (cohort.registered_to - cohort.registered_from).days
    u = max(rng.random(), rng.random()) if cohort.later_skew else rng.random()
    return cohort.registered_from + dt.timedelta(days=int(u * (span + 1)))


def _inquiry(rng: random.Random) -> tuple[str, float]:
    """Return (text, logit effect); no inquiry gives an empty (missing) text."""
    if rng.random() >= INQUIRY_RATE:
        return "", 0.0
    topics = list(TOPICS)
    topic = rng.choices(topics, weights=[TOPICS[t][0] for t in topics])[0]
    _, effect, sentences = TOPICS[topic]
    text = rng.choice(INQUIRY_PREFIXES) + rng.choice(sentences) + rng.choice(INQUIRY_SUFFIXES)
    return text, effect


def _customer(rng: random.Random, cohort: Cohort) -> Customer:
    """Draw one customer (ID assigned later) and the target from the logistic model."""
    age = min(79, max(18, round(rng.gauss(cohort.age_mean, 14.0))))
    gender = "女性" if rng.random() < 0.52 else "男性"
    occupation = _pick_occupation(rng, age, gender)
    prefecture = rng.choices([p for p, _ in PREFECTURES], weights=[w for _, w in PREFECTURES])[0]
    income_multiplier = cohort.income_multiplier * (1.1 if prefecture in METROPOLITAN else 1.0)
    income = _income(rng, occupation, age, income_multiplier)
    registered = _registration_date(rng, cohort)
    tenure_years = (cohort.snapshot - registered).days / 365.25
    # younger customers use the service more often
    rate = 9.0 * cohort.usage_multiplier * (1.5 - age / 100.0) * rng.lognormvariate(0.0, 0.6)
    visits = _poisson(rng, min(rate, 60.0))
    per_visit = 700.0 * ((income + 50.0) / 400.0) ** 0.3 * rng.lognormvariate(0.0, 0.4)
    spend = 0 if visits == 0 else int(round(visits * per_visit, -1))
    inquiry, inquiry_effect = _inquiry(rng)

    logit = cohort.intercept + SIGNAL_STRENGTH * (
        0.9 * math.log((income + 50.0) / 400.0)
        + 0.05 * (min(visits, 40) - 10)
        + 0.35 * math.log((spend + 1000.0) / 8000.0)
        + 0.12 * min(tenure_years, 8.0)
        - 0.0008 * (age - 45) ** 2
        + OCCUPATIONS[occupation][2]
        + (0.25 if prefecture in METROPOLITAN else 0.0)
        + inquiry_effect
    )
    purchased = rng.random() < 1.0 / (1.0 + math.exp(-logit))

    def missing() -> bool:
        return rng.random() < MISSING_RATE

    return Customer(
        customer_id="",
        age=None if missing() else age,
        gender=gender,
        occupation=None if missing() else occupation,
        prefecture=prefecture,
        income=None if missing() else income,
        registered=registered,
        monthly_visits=visits,
        last_month_spend=None if missing() else spend,
        inquiry=inquiry,
        purchased=purchased,
    )


def generate_cohort(rng: random.Random, cohort: Cohort) -> list[Customer]:
    """Customers of one cohort, ordered by registration date; IDs rise with registration date."""
    customers = sorted((_customer(rng, cohort) for _ in range(cohort.rows)), key=lambda c: c.registered)
    ids = sorted(rng.sample(range(cohort.id_low, cohort.id_high + 1), cohort.rows))
    return [replace(c, customer_id=f"C{number:06d}") for c, number in zip(customers, ids, strict=True)]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], *, bom: bool = False) -> None:
    """UTF-8 (optionally with BOM), comma-separated, ``\\n`` line endings, minimal quoting."""
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> dict[str, list[Customer]]:
    """Write every sample file into ``out_dir`` and return the customers per labelled/score file."""
    master = random.Random(seed)
    # one independent stream per cohort, so changing one cohort leaves the others unchanged
    rng_train_eval, rng_retrain, rng_score, rng_split = (random.Random(master.getrandbits(64)) for _ in range(4))

    train_eval = generate_cohort(rng_train_eval, TRAIN_EVAL_COHORT)
    eval_ids = set(rng_split.sample(range(len(train_eval)), EVAL_ROWS))
    files = {
        TRAIN_FILE: [c for i, c in enumerate(train_eval) if i not in eval_ids],
        EVAL_FILE: [c for i, c in enumerate(train_eval) if i in eval_ids],
        RETRAIN_FILE: generate_cohort(rng_retrain, RETRAIN_COHORT),
        SCORE_FILE: generate_cohort(rng_score, SCORE_COHORT),
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, customers in files.items():
        with_target = name != SCORE_FILE
        header = HEADER if with_target else HEADER[:-1]
        write_csv(out_dir / name, header, [c.to_row(with_target) for c in customers])
    write_csv(out_dir / COLUMN_INFO_FILE, ("column_name", "column_type"), COLUMNS, bom=True)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="output directory (default: dags_examples/data in the repository)",
    )
    args = parser.parse_args(argv)
    files = generate(args.out_dir, args.seed)
    for name, customers in files.items():
        size = (args.out_dir / name).stat().st_size
        line = f"{name}: {len(customers)} rows, {size:,} bytes"
        if name != SCORE_FILE:
            line += f", positive rate {sum(c.purchased for c in customers) / len(customers):.1%}"
        print(line)
    info_size = (args.out_dir / COLUMN_INFO_FILE).stat().st_size
    print(f"{COLUMN_INFO_FILE}: {len(COLUMNS)} columns, {info_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
