"""Every exception of the provider, in one module.

Each case that code decides on has its own class, so no caller looks at message text or class
names. Every documented ``message`` of the service (spec 3, 4.14) maps to one class; an error
answer without a documented message is an :class:`UndocumentedApiError` (or a :class:`ServerError`
/ :class:`RateLimitedError` by its status). Each exception's text says what went wrong and what to
do; no exception text ever contains a key.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_predictionone.api import contract as c


class PredictionOneError(Exception):
    """Base class of every error raised by this provider."""


class PredictionOneConfigError(PredictionOneError, ValueError):
    """Bad input detected before any request was sent (nothing was created remotely)."""


def connection_not_found(conn_id: str) -> PredictionOneConfigError:
    """The error for a Prediction One connection id that Airflow does not know."""
    return PredictionOneConfigError(
        f"predictionone_conn_id={conn_id!r}: there is no Airflow connection with this id. Create it (Admin -> "
        "Connections -> Add, type 'Prediction One', the secret key as password; or `airflow connections add "
        f"{conn_id} --conn-type predictionone --conn-password ...`; or the environment variable "
        f"AIRFLOW_CONN_{conn_id.upper()}), or set predictionone_conn_id to an existing connection."
    )


class UnknownIdError(PredictionOneError):
    """An id the user gave is not listed by the service (checked before anything was changed)."""


class ModelNotFoundError(PredictionOneError):
    """No model with the name a training was started under is listed (yet) by Get Model (spec 7.4)."""


class ModelNotPromotedError(PredictionOneError):
    """The promotion gate kept the served model (``on_worse="fail"``): the retrained one is not good enough."""


class ResponseFormatError(ValueError):
    """A 2xx response whose body does not have the documented shape (becomes UnexpectedResponseError)."""


class PredictionOneTransportError(PredictionOneError):
    """The service could not be reached, or did not answer in time.

    :param text: what happened.
    :param sent: whether the request may have reached the service (only a failure to connect
        proves it did not); a request that creates something is repeated only when it was not.
    :param attempts: how many attempts were made (set when the retries gave up).
    """

    def __init__(self, text: str, *, sent: bool = True, attempts: int = 1) -> None:
        super().__init__(text)
        self.sent = sent
        self.attempts = attempts

    def with_advice(self, advice: str) -> PredictionOneTransportError:
        """The same failure with ``advice`` appended to its text (what a retry of the task will do)."""
        return type(self)(f"{self} {advice}", sent=self.sent, attempts=self.attempts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transport, (type(self), str(self), self.sent, self.attempts))


def _rebuild_transport(cls: type[PredictionOneTransportError], *args: Any) -> PredictionOneTransportError:
    text, sent, attempts = args
    return cls(text, sent=sent, attempts=attempts)


class PredictionOneDownloadError(PredictionOneTransportError):
    """A download from a result URL failed after all retries (no answer, or a dropped one)."""


class PredictionOneUploadError(PredictionOneError):
    """An upload to a pre-issued upload URL failed after all retries."""


class UploadIntegrityError(PredictionOneUploadError):
    """The service received other bytes than were sent (size or MD5 differ): a job fed with them
    is never used. Retried from the start like any failed upload."""


class JobFailedError(PredictionOneError):
    """A training or retraining job ended in a failure status."""

    def __init__(self, text: str, *, status: str | None = None, message: str | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_job, (type(self), str(self), self.status, self.message))


def _rebuild_job(cls: type[JobFailedError], *args: Any) -> JobFailedError:
    text, status, message = args
    return cls(text, status=status, message=message)


class JobTimeoutError(PredictionOneError):
    """A wait for a job or a prediction API ran past its timeout."""


class PredictionApiFailedError(JobFailedError):
    """A prediction API ended in the ``failed`` status, or vanished while it was expected to run.

    ``status`` is the raw classifier status (``None`` when it no longer exists).
    """


class PredictionApiNotFoundError(PredictionOneError):
    """No prediction API with the given ``classifier_id`` exists (Get Classifier does not list it)."""

    @classmethod
    def for_id(cls, classifier_id: str) -> PredictionApiNotFoundError:
        """The error for ``classifier_id``: every caller says the same."""
        return cls(
            f"Prediction One has no prediction API {classifier_id!r} (Get Classifier does not list it; it may have "
            "been deleted). Check the classifier_id in the Prediction One web app, or the XCom it came from."
        )


class BatchRejectedRowsError(PredictionOneError):
    """More rows were rejected than ``max_rejected_fraction`` allows. Raised after every output
    file was written; :attr:`result` describes the batch (a ``BatchPredictionResult``)."""

    def __init__(self, text: str, result: Any = None) -> None:
        super().__init__(text)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.result))


class BatchServiceDownError(PredictionOneError):
    """``max_consecutive_errors`` rows in a row failed with a transient error after the client's
    retries: the prediction API looks down, so the batch stopped (no output file was written).
    The last transient error is the ``__cause__``."""


class PredictionOneAPIError(PredictionOneError):
    """The service answered with an error.

    :param operation: what was called, e.g. ``"Train Status Check (GET /models/results)"``.
    :param status_code: the HTTP status.
    :param code: the 10-digit error ``code`` from the body, if any.
    :param error: the symbolic ``error`` from the body, if any.
    :param message: the ``message`` from the body, if any.
    :param excerpt: a short excerpt of a body that was not the documented JSON.
    :param endpoint: the manual's name of the endpoint (``"Get API Key"``), which picks the hint.
    :param credential: the kind of API key the request was sent with (``None``: the secret key).
    :param retry_after: the answer's ``Retry-After`` header, if any.
    """

    hint = "Check the request against the Prediction One API manual; if it persists, contact Sony support."
    retryable = False

    def __init__(
        self,
        operation: str,
        status_code: int,
        *,
        code: str | None = None,
        error: str | None = None,
        message: str | None = None,
        excerpt: str | None = None,
        endpoint: str | None = None,
        credential: c.CredentialType | None = None,
        retry_after: str | None = None,
    ) -> None:
        self.operation = operation
        self.status_code = status_code
        self.code = code
        self.error = error
        self.message = message
        self.excerpt = excerpt
        self.endpoint = endpoint
        self.credential = credential
        self.retry_after = retry_after
        self.hint = self._hint()
        super().__init__(self._render())

    def _hint(self) -> str:
        """What to do about this error; subclasses refine it by endpoint and message."""
        return type(self).hint

    def _render(self) -> str:
        parts = [f"HTTP {self.status_code}"]
        if self.code or self.error:
            parts.append(" ".join(p for p in (self.code, self.error) if p))
        head = f"Prediction One {self.operation} failed ({', '.join(parts)})"
        if self.message:
            head += f": {self.message!r}"
        elif self.excerpt is not None:
            head += f"; response body: {self.excerpt!r}" if self.excerpt else "; empty response body"
        return f"{head}. {self.hint}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the exception picklable (Airflow serialises exceptions across processes).
        fields = ("code", "error", "message", "excerpt", "endpoint", "credential", "retry_after")
        return (_rebuild, (type(self), self.operation, self.status_code, {f: getattr(self, f) for f in fields}))


def _rebuild(cls: type[PredictionOneAPIError], operation: str, status: int, fields: dict[str, Any]) -> Any:
    return cls(operation, status, **fields)


class UndocumentedApiError(PredictionOneAPIError):
    """An error answer (4xx) whose message the manual does not document, or without a JSON body."""


_NEW_SECRET_KEY = (
    "create a new secret key on the Prediction One Settings screen and store it in the connection's Secret key "
    "(password) field (Admin -> Connections), then re-run the task"
)


class InvalidCredentialsError(PredictionOneAPIError):
    """A key was not accepted: the secret key (Get API Key) or a derived API key (any other call)."""

    hint = (
        "The key was not accepted. If this persists, " + _NEW_SECRET_KEY + "; a derived API key that expired "
        "is re-issued automatically once."
    )

    def _hint(self) -> str:
        if self.endpoint == c.ENDPOINT_GET_API_KEY:
            return "The connection's secret key was not accepted (wrong, revoked or inactive): " + _NEW_SECRET_KEY + "."
        if self.message == c.MSG_NOT_FOUND_CREDENTIAL and self.credential is c.CredentialType.RETRAIN:
            return (
                "The retrain API key was refused for this request: a retrain key is bound to one model_id, and "
                "this retraining job belongs to another model. Pass the model_id the retrain_job_id was started "
                "with (the model behind the prediction API)."
            )
        return (
            "The derived API key was not accepted even after it was re-issued once. Re-run the task; if it "
            "fails again, " + _NEW_SECRET_KEY + "."
        )


class StaleApiKeyError(InvalidCredentialsError):
    """A derived API key was refused (it expired early or was revoked): the client forgets it and
    repeats the request once, at once, with a newly issued key."""


class UserDeletedError(PredictionOneAPIError):
    hint = (
        "The Prediction One user that owns the connection's secret key may have been deleted. Sign in to the "
        "Prediction One web app with that user; if it no longer exists, create a secret key as an existing user "
        "and store it in the connection's Secret key (password) field."
    )


class ModelDeletedError(PredictionOneAPIError):
    hint = "The model does not exist (any more). Check the model_id in the Prediction One web app or list models."


class ModelIdRequiredError(PredictionOneAPIError):
    hint = "A retrain API key needs the model_id of the model behind the prediction API to retrain."


class RetrainJobDeletedError(PredictionOneAPIError):
    hint = "The retraining job may have been deleted; start a new retraining."


class RetrainJobNotFoundError(PredictionOneAPIError):
    hint = "Check the retrain_job_id, and that it belongs to the model whose retrain key is used."


class ClassifierNotFoundError(PredictionOneAPIError):
    hint = (
        "No prediction API serves this model (it may have been deleted). Deploy the model first, and "
        "retrain the model_id of the model behind an existing prediction API."
    )


class RetrainJobNotFinishedError(PredictionOneAPIError):
    hint = "Wait until the retraining job's status is 'job_finished' before switching the model."


class ConfigurationFileNotFoundError(PredictionOneAPIError):
    hint = (
        "The model's stored configuration file is missing, so it cannot be retrained. Train a new model "
        "with the train flow instead."
    )


class UnexpectedResponseError(PredictionOneAPIError):
    """A success answer whose body does not have the documented shape."""

    hint = (
        "The answer did not have the documented shape (see the excerpt). Re-run the task once; if it happens "
        "again the service may have changed or a proxy answered instead of it: check the connection host and "
        "report the excerpt to the provider's maintainers."
    )


class ResultArchiveError(UnexpectedResponseError):
    """A downloaded result archive that is not a readable zip file."""

    hint = (
        "The downloaded result archive is not a readable zip file (the excerpt shows its first bytes). Re-run the "
        "task to download it again; if the excerpt is an HTML or XML page, a proxy or the storage answered instead "
        "of the result: check the worker's proxy settings and that the result URL has not expired."
    )


class DownloadRejectedError(UndocumentedApiError):
    """The server refused a download from a result URL (an HTTP error answer)."""

    hint = (
        "Result URLs are short-lived and work only as issued: re-run the task to poll the job again and download "
        "from the fresh URL it returns. If it fails again, check that the job finished and its result still exists "
        "in the Prediction One web app."
    )


class ServerError(PredictionOneAPIError):
    hint = "The service had an internal error. Transient errors were retried; try again later."
    retryable = True


class RateLimitedError(PredictionOneAPIError):
    hint = "The service is rate-limiting requests (HTTP 429). Lower the request rate or concurrency."
    retryable = True


class InferenceError(PredictionOneAPIError):
    hint = (
        "The prediction API rejected the request. Check the prediction API URL and key (Get Classifier returns "
        "both), that it is running, and that the request is one CSV header plus one data row with the model's "
        "columns; the status and message above say which."
    )


class InferenceClassifierNotFoundError(InferenceError):
    hint = "The prediction API (classifier_id in the URL) does not exist; check the prediction API URL."


class InferenceBadRequestError(InferenceError):
    hint = (
        "The request did not match the input schema: send one CSV header plus exactly one data row "
        "(base64), with the model's columns, and the ar/ad/nc flags."
    )


class InferenceInvalidApiKeyError(InferenceError):
    hint = "The prediction-API key is wrong: use the api_key returned by Create / Get Classifier."


class InferenceInvalidClassifierIdError(InferenceError):
    hint = "The classifier_id was not found; check the prediction API URL."


class InferenceIpNotAllowedError(InferenceError):
    hint = "The caller's IP address is not allowed by the prediction API's rules; update its IP rules."


class PredictionApiNotRunningError(InferenceError):
    hint = "The prediction API is not running: start it (active=true) and wait until its status is 'running'."


_BY_MESSAGE: dict[str, type[PredictionOneAPIError]] = {
    c.MSG_INVALID_API_KEY: InvalidCredentialsError,
    c.MSG_INACTIVE_CREDENTIAL: InvalidCredentialsError,
    c.MSG_NOT_FOUND_CREDENTIAL: InvalidCredentialsError,
    c.MSG_USER_DELETED: UserDeletedError,
    c.MSG_MODEL_DELETED: ModelDeletedError,
    c.MSG_MODEL_ID_REQUIRED: ModelIdRequiredError,
    c.MSG_JOB_DELETED: RetrainJobDeletedError,
    c.MSG_RETRAIN_JOB_NOT_FOUND: RetrainJobNotFoundError,
    c.MSG_CLASSIFIER_NOT_FOUND: ClassifierNotFoundError,
    c.MSG_RETRAIN_NOT_FINISHED: RetrainJobNotFinishedError,
    c.MSG_CONFIGURATION_FILE_NOT_FOUND: ConfigurationFileNotFoundError,
    c.MSG_INFERENCE_CLASSIFIER_NOT_FOUND: InferenceClassifierNotFoundError,
    c.MSG_INFERENCE_BAD_REQUEST: InferenceBadRequestError,
    c.MSG_INFERENCE_INVALID_API_KEY: InferenceInvalidApiKeyError,
    c.MSG_INFERENCE_INVALID_CLASSIFIER_ID: InferenceInvalidClassifierIdError,
    c.MSG_INFERENCE_IP_NOT_ALLOWED: InferenceIpNotAllowedError,
}

_EXCERPT_CHARS = 200


def error_from_response(
    operation: str,
    status_code: int,
    body: bytes,
    *,
    inference: bool = False,
    undocumented: type[PredictionOneAPIError] = UndocumentedApiError,
    **context: Any,
) -> PredictionOneAPIError:
    """Build the specific exception for an error response (spec 7.10).

    The body is parsed as JSON when possible and matched on its documented ``message``; anything
    else gives, by status, a :class:`RateLimitedError`, a :class:`ServerError`, an
    :class:`InferenceError` (Inference) or ``undocumented``, carrying the status and a short
    excerpt of the body. ``context`` (``endpoint``, ``credential``, ``retry_after``) is kept on it.
    """
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
    if isinstance(parsed, dict) and any(k in parsed for k in ("code", "error", "message")):
        code = None if parsed.get("code") is None else str(parsed.get("code"))
        error = None if parsed.get("error") is None else str(parsed.get("error"))
        message = None if parsed.get("message") is None else str(parsed.get("message"))
        cls = _BY_MESSAGE.get(message or "")
        if cls is None and message and message.startswith(c.MSG_INFERENCE_NOT_RUNNING_PREFIX):
            cls = PredictionApiNotRunningError
        if cls is None:
            cls = _by_status(status_code, inference, undocumented)
        return cls(operation, status_code, code=code, error=error, message=message, **context)
    excerpt = body[:_EXCERPT_CHARS].decode("utf-8", errors="replace").strip() if body else ""
    return _by_status(status_code, inference, undocumented)(operation, status_code, excerpt=excerpt, **context)


def _by_status(
    status_code: int, inference: bool, undocumented: type[PredictionOneAPIError]
) -> type[PredictionOneAPIError]:
    if status_code == 429:
        return RateLimitedError
    if status_code >= 500:
        return ServerError
    return InferenceError if inference else undocumented
