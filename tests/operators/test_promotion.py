"""The promotion gate on the switch, against the emulator (real HTTP, real models), and its arguments."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_predictionone.api.errors import ModelNotPromotedError, PredictionOneConfigError
from airflow_provider_predictionone.api.models import ALLOW_ALL
from airflow_provider_predictionone.operators import PredictionOneRetrainModelOperator, PredictionOneSwitchModelOperator
from tests.promotion_data import more_data, shuffled_labels
from tests.task_context import fake_context
from tests.triggers.job_fixtures import wait_for_training, wait_until

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
EVAL = DATA / "customers_eval.csv"
TARGET = "プレミアム購入"
CONFIG = {"tc": TARGET, "tt": "binary_classification", "tv": "はい"}


@pytest.fixture
def served(p1_client: Any, p1_hook: Any) -> tuple[int, str]:
    """A model trained on the bundled training file behind a running prediction API: ``(model_id, classifier_id)``."""
    upload_id = p1_hook.upload_training_data(DATA / "customers_train.csv", DATA / "column_info.csv", check_data=False)
    wait_for_training(p1_client, p1_client.create_model(upload_id, "gate-base", CONFIG))
    model = p1_client.find_model_by_name("gate-base")
    created = p1_client.create_classifier(model.model_id, ALLOW_ALL)
    wait_until(lambda: (found := p1_client.get_classifier(created.classifier_id)) and found.is_ready)
    return model.model_id, created.classifier_id


def retrain(model_id: int, training_file: Path) -> dict[str, Any]:
    return PredictionOneRetrainModelOperator(
        task_id="retrain",
        model_id=model_id,
        training_file=str(training_file),
        evaluation_file=str(EVAL),
        check_interval=0.1,
        deferrable=False,
    ).execute(fake_context())


def switch(model_id: int, job_id: str, **gate: Any) -> PredictionOneSwitchModelOperator:
    options = {"metric": "auc", "evaluation_file": str(EVAL)} | gate
    return PredictionOneSwitchModelOperator(task_id="switch_model", model_id=model_id, retrain_job_id=job_id, **options)


def test_a_worse_model_is_kept_out(
    predictionone_conn: str,
    emulator: Any,
    served: tuple[int, str],
    p1_client: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_id, classifier_id = served
    retrained = retrain(model_id, shuffled_labels(tmp_path / "shuffled.csv"))
    with caplog.at_level(logging.INFO):
        result = switch(model_id, retrained["retrain_job_id"], max_rows=200).execute(fake_context())
    logged = caplog.text + capsys.readouterr().out  # the task logger writes to stdout on Airflow 3
    assert result["switched"] is False and result["model_id"] == model_id
    assert result["base_model_id"] == model_id and result["retrained_model_id"] == retrained["model_id"]
    assert result["metric"] == "auc" and result["min_improvement"] == 0.0 and result["evaluation_rows"] == 200
    assert result["retrained_value"] < 0.6 < 0.7 < result["served_value"]
    assert p1_client.get_classifier(classifier_id).model_id == model_id  # the API still serves the old model
    assert emulator.request_count("POST", "inference") == 200  # one Inference request per evaluation row
    assert emulator.request_count("PUT", "/retrain_jobs/{retrain_job_id}/update_model") == 0
    line = f"Kept model {model_id} on prediction API {classifier_id}: retrained model {retrained['model_id']} has auc"
    assert line in logged and result["reason"].startswith(line)
    assert f"{result['retrained_value']:.4f} on 200 evaluation rows" in logged
    assert f"has {result['served_value']:.4f} (needs >= {result['served_value']:.4f})" in logged
    assert "one Inference request per row" in logged

    with pytest.raises(ModelNotPromotedError) as failed:
        switch(model_id, retrained["retrain_job_id"], max_rows=50, on_worse="fail").execute(fake_context())
    assert "on 50 evaluation rows" in str(failed.value) and "needs >= " in str(failed.value)
    assert p1_client.get_classifier(classifier_id).model_id == model_id


def test_a_better_model_is_switched_to(
    predictionone_conn: str, emulator: Any, served: tuple[int, str], p1_client: Any, tmp_path: Path
) -> None:
    model_id, classifier_id = served
    retrained = retrain(model_id, more_data(tmp_path / "more.csv"))
    result = switch(model_id, retrained["retrain_job_id"], classifier_id=classifier_id).execute(fake_context())
    assert result["switched"] is True and result["model_id"] == retrained["model_id"], result["reason"]
    assert result["evaluation_rows"] == 500 and result["retrained_value"] >= result["served_value"]
    assert result["reason"].startswith(f"Switched prediction API {classifier_id} from model {model_id}")
    assert p1_client.get_classifier(classifier_id).model_id == retrained["model_id"]


def test_no_metric_switches_unguarded(
    predictionone_conn: str,
    served: tuple[int, str],
    p1_client: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_id, classifier_id = served
    retrained = retrain(model_id, shuffled_labels(tmp_path / "shuffled.csv"))
    with caplog.at_level(logging.INFO):
        result = PredictionOneSwitchModelOperator(
            task_id="switch_model", model_id=model_id, retrain_job_id=retrained["retrain_job_id"]
        ).execute(fake_context())
    assert result["switched"] is True and result["metric"] is None and result["evaluation_rows"] == 0
    assert "without a promotion gate" in caplog.text + capsys.readouterr().out
    assert p1_client.get_classifier(classifier_id).model_id == retrained["model_id"]


def test_runtime_refusals_come_before_any_inference(
    predictionone_conn: str, emulator: Any, served: tuple[int, str], tmp_path: Path
) -> None:
    model_id, _ = served
    retrained = retrain(model_id, more_data(tmp_path / "more.csv"))
    job = retrained["retrain_job_id"]
    op = switch(model_id, job, metric="{{ params.metric }}")  # known only at run time
    op.metric = "rmse"  # as the template renders
    with pytest.raises(PredictionOneConfigError, match=r"metric='rmse' does not apply .* binary_classification"):
        op.execute(fake_context())
    other = tmp_path / "other.csv"
    other.write_text(EVAL.read_text(encoding="utf-8").replace(",はい\n", ",いいえ\n"), encoding="utf-8")
    with pytest.raises(PredictionOneConfigError, match="not the file the retraining was evaluated on"):
        switch(model_id, job, evaluation_file=str(other)).execute(fake_context())
    assert emulator.request_count("POST", "inference") == 0
    assert emulator.request_count("PUT", "/retrain_jobs/{retrain_job_id}/update_model") == 0


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"metric": "auroc"}, "metric='auroc' is not a metric the promotion gate knows"),
        ({"min_improvement": -0.01}, "min_improvement=-0.01 is not a number >= 0"),
        ({"min_improvement": "a lot"}, "min_improvement='a lot' is not a number"),
        ({"on_worse": "rollback"}, "on_worse='rollback' is not a policy"),
        ({"max_rows": 0}, "max_rows=0 is not a whole number >= 1"),
        ({"evaluation_file": None}, "evaluation_file=None is empty, and metric='auc' needs it"),
    ],
)
def test_bad_gate_arguments_are_refused_at_parse_time(gate: dict[str, Any], message: str) -> None:
    with pytest.raises(PredictionOneConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        switch(1, "job", **gate)


def test_gate_arguments_accept_templates_and_any_case() -> None:
    switch(1, "job", metric="AUC", min_improvement="0.01", max_rows="200")
    switch(1, "job", metric="{{ params.metric }}", evaluation_file="{{ params.evaluation_file }}")
    PredictionOneSwitchModelOperator(task_id="s", model_id=1, retrain_job_id="j")  # no gate: as before
