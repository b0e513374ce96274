"""Checking what a task was given: ids, required text, seconds, yes/no values, and whether a value
is known only at run time (a Jinja template or an XCom).

Templated values arrive rendered as text, and a missing param or XCom renders as ``'None'``; the
checks accept ``"12"`` for an id and say so when a value looks like a missing template. Every
error is a :class:`~.api.errors.PredictionOneConfigError` naming the argument, the value and the fix.
Operators, sensors and the hook use these; nothing here imports Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_predictionone.api.contract import ClassifierTarget, JobKind
from airflow_provider_predictionone.api.errors import PredictionOneConfigError

EMPTY_TEXTS = frozenset({"", "none", "null"})
"""What a required value looks like when it is missing: a template renders a missing param or XCom as 'None'."""

TEMPLATE_NOTE = (
    "If it comes from a template or an XCom, check that it renders to a value: a missing param or XCom "
    "renders as 'None'."
)

_REQUIRED_HINTS = {
    "external_process_id": "pass the id the upload operator returns (e.g. external_process_id=upload.output)",
    "retrain_job_id": "pass the id the retrain operator pushes to XCom (key 'retrain_job_id')",
    "classifier_id": "pass the prediction API id the deploy operator pushes to XCom (key 'classifier_id')",
    "training_file": "pass the path of the training CSV file",
    "column_info": "pass a {column: type} mapping or the path of a column-info CSV file",
    "input_file": "pass the path of the CSV file to score",
    "output_file": "pass the path to write the predictions to",
}
_WILDCARDS = frozenset({"*", "all", "any", "%"})


def is_empty(value: Any) -> bool:
    """``None`` or a text that renders a missing value (``''``, ``'None'``, ``'null'``)."""
    return value is None or str(value).strip().lower() in EMPTY_TEXTS


def as_int(name: str, value: Any) -> int:
    """``value`` as an int: templated ids render to strings, so "12" is accepted."""
    if isinstance(value, bool):
        raise PredictionOneConfigError(f"{name}={value!r} is not an id; pass the numeric {name}.")
    if is_empty(value):
        raise PredictionOneConfigError(
            f"{name}={value!r} is empty; it is required: pass the numeric {name}. {TEMPLATE_NOTE}"
        )
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise PredictionOneConfigError(
            f"{name}={value!r} is not a whole number. Pass the numeric {name}, e.g. 12. {TEMPLATE_NOTE}"
        ) from None


def as_id(name: str, value: Any) -> int:
    """One explicit, positive whole-number id (ids start at 1): no lists, no wildcards, no "0"."""
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        raise PredictionOneConfigError(
            f"{name}={value!r} is not one id. This operator acts on exactly one {name}; for several, use one "
            f"task per id (e.g. dynamic task mapping: .expand({name}=[...]))."
        )
    if isinstance(value, str) and value.strip().lower() in _WILDCARDS:
        raise PredictionOneConfigError(
            f"{name}={value!r} looks like a wildcard. Only explicit ids are accepted: pass the numeric {name}."
        )
    number = as_int(name, value)
    if number <= 0:
        raise PredictionOneConfigError(f"{name}={value!r} is not a valid id; ids are positive whole numbers.")
    return number


def require_text(name: str, value: Any) -> str:
    """A required text argument, stripped; empty or a rendered missing value is refused."""
    if is_empty(value):
        hint = _REQUIRED_HINTS.get(name, f"pass a value for {name}")
        raise PredictionOneConfigError(f"{name}={value!r} is empty; it is required: {hint}. {TEMPLATE_NOTE}")
    return str(value).strip()


def positive_seconds(name: str, value: Any) -> float:
    """A positive number of seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PredictionOneConfigError(f"{name}={value!r} is not a number of seconds.") from None
    if number <= 0:
        raise PredictionOneConfigError(f"{name}={value!r} must be more than 0 seconds.")
    return number


def optional_bool(name: str, value: Any) -> bool | None:
    """``None`` (leave unchanged), or a bool; rendered templates arrive as "True" / "false"."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in EMPTY_TEXTS:
        return None
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise PredictionOneConfigError(f"{name}={value!r} is not true or false; pass True, False or None (unchanged).")


def job(kind: JobKind | str, job_id: Any, model_id: Any = None) -> tuple[JobKind, str, int | None]:
    """The arguments naming a training or retraining job, checked: ``(kind, job_id, model_id)``.

    :param kind: ``"train"`` / ``"retrain"`` or a :class:`JobKind`.
    :param job_id: the training ``external_process_id`` or the ``retrain_job_id``.
    :param model_id: the model being retrained (an int or a decimal string); required for retrain.
    """
    try:
        job_kind = JobKind(kind)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in JobKind)
        raise PredictionOneConfigError(f"kind must be one of {allowed}, got {kind!r}.") from None
    if is_empty(job_id):
        raise PredictionOneConfigError(
            f"The {job_kind.label} job id ({job_kind.id_name}={job_id!r}) is empty. {TEMPLATE_NOTE}"
        )
    number = None if model_id is None or model_id == "" else as_int("model_id", model_id)
    if job_kind is JobKind.RETRAIN and number is None:
        raise PredictionOneConfigError(
            "model_id is required to wait for a retraining job: pass the id of the model behind the prediction API."
        )
    return job_kind, str(job_id).strip(), number


def classifier_target(target: ClassifierTarget | str) -> ClassifierTarget:
    """The state a wait for a prediction API ends in: ``"running"`` or ``"stopped"``."""
    try:
        return ClassifierTarget(target)
    except ValueError:
        allowed = ", ".join(repr(t.value) for t in ClassifierTarget)
        raise PredictionOneConfigError(f"target must be one of {allowed}, got {target!r}.") from None


def is_runtime_reference(value: Any) -> bool:
    """Whether ``value`` is something Airflow resolves at run time: an ``XComArg`` (``task.output``,
    a ``@task`` call's result) or another of Airflow's ``ResolveMixin`` values (duck-typed on the
    ``resolve`` and ``iter_references`` methods every supported version defines)."""
    return callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))


def is_templated(value: Any) -> bool:
    """Whether ``value`` is known only at run time: a Jinja template, an ``XComArg``, or a mapping /
    list / tuple holding one. Such values are checked after rendering, in ``execute``."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if is_runtime_reference(value):
        return True
    if isinstance(value, Mapping):
        return any(is_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_templated(v) for v in value)
    return False


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
