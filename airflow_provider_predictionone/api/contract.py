"""The Prediction One REST contract: paths, parameter names, error strings and status values.

This module is the single source of truth shared by the API client and the local emulator.
It restates ``predictionone-api.md`` (the project's spec) as code and makes the interpretations of
the spec's section 7 explicit in one place. It imports nothing outside the standard library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_HOST = "https://developer-api.predictionone.sony.biz"
"""Management API host for Prediction One accounts (spec 0, 7.22)."""

EASY_PREDICTIVE_ANALYTICS_HOST = "https://developer-api.easy-predictive-analytics.sony.com"
"""Host of the English-language sister product, same paths (spec 0, 7.22)."""

BASE_PATH = "/v1/external"
"""Every management path below is relative to ``<host>/v1/external``."""

API_KEY_HEADER = "x-api-key"

# Management endpoint paths (spec 2). ``{…}`` parts are filled with ``str.format``.
PATH_API_KEY = "/api-key"
PATH_DATA_SET_UPLOAD_URL = "/data-sets/upload-url"
PATH_DATA_SET_COLUMN_INFO = "/data-sets/column-info"
PATH_DATA_SETS = "/data-sets"
PATH_DATA_SET = "/data-sets/{data_set_id}"
PATH_MODELS = "/models"
PATH_MODEL = "/models/{model_id}"
PATH_MODEL_RESULTS = "/models/results"
PATH_CLASSIFIERS = "/classifiers"
PATH_CLASSIFIER = "/classifiers/{classifier_id}"
PATH_RETRAIN_UPLOAD_URL = "/retrain_jobs/upload_url"
PATH_RETRAIN_JOB = "/retrain_jobs/{retrain_job_id}"
PATH_RETRAIN_UPDATE_MODEL = "/retrain_jobs/{retrain_job_id}/update_model"

ENDPOINT_GET_API_KEY = "Get API Key"
"""The manual's name of the one endpoint called with the secret key (spec 4.1)."""

DEFAULT_PAGE_LIMIT = 30
"""Default ``limit`` of Get Model / Get Data Set (spec 4.6, 4.8)."""

DEFAULT_POLL_SECONDS = 30
"""Polling interval of the manual's training example (spec 4.5)."""


class CredentialType(str, enum.Enum):
    """The ``credential_type`` values of Get API Key (spec 4.1, 7.17)."""

    TRAIN = "train"
    DEPLOY = "deploy"
    RETRAIN = "retrain"


# --------------------------------------------------------------------------------------------
# Errors (spec 3, 4.14, 7.10)
# --------------------------------------------------------------------------------------------

CODE_BAD_REQUEST = "4001000204"
ERROR_BAD_REQUEST = "PREDA_EXTERNAL_BAD_REQUEST"
CODE_INTERNAL = "5001000201"
ERROR_INTERNAL = "PREDA_EXTERNAL_INTERNAL_SERVER_ERROR"

MSG_INVALID_API_KEY = "invalid_api_key."
MSG_INACTIVE_CREDENTIAL = "Inactive_credential."
MSG_NOT_FOUND_CREDENTIAL = "Not_found_credential."
MSG_USER_DELETED = "This user may be deleted."
MSG_MODEL_DELETED = "This model may be deleted."
MSG_MODEL_ID_REQUIRED = "Model id is required."
MSG_JOB_DELETED = "This job may be deleted."
MSG_RETRAIN_JOB_NOT_FOUND = "Not found retrain job."
MSG_CLASSIFIER_NOT_FOUND = "Not found classifier."
MSG_RETRAIN_NOT_FINISHED = "Retrain job is not finished."
MSG_CONFIGURATION_FILE_NOT_FOUND = "Not found configuration_file."

CREDENTIAL_MESSAGES = frozenset({MSG_INVALID_API_KEY, MSG_INACTIVE_CREDENTIAL, MSG_NOT_FOUND_CREDENTIAL})
"""Messages meaning "this API key is not (or no longer) accepted" (spec 7.11)."""

# Inference errors (spec 4.14).
CODE_INFERENCE_CLASSIFIER_NOT_FOUND = "4001030101"
ERROR_INFERENCE_CLASSIFIER_NOT_FOUND = "NOT_FOUND_CLASSIFIER"
MSG_INFERENCE_CLASSIFIER_NOT_FOUND = "Not found classifier in classifiers table"
CODE_INFERENCE_BAD_REQUEST = "4001030104"
ERROR_INFERENCE_BAD_REQUEST = "BAD_REQUEST"
MSG_INFERENCE_BAD_REQUEST = "Invalid request"
CODE_INFERENCE_ACCESS_DENIED = "4031030201"
ERROR_INFERENCE_ACCESS_DENIED = "ACCESS_DENIED"
MSG_INFERENCE_INVALID_API_KEY = "Invalid API key"
MSG_INFERENCE_INVALID_CLASSIFIER_ID = "Invalid classifier id"
MSG_INFERENCE_IP_NOT_ALLOWED = "Not allowed source ip"
CODE_INFERENCE_UNAVAILABLE = "5031030101"
ERROR_INFERENCE_UNAVAILABLE = "SERVICE_UNAVAILABLE_ERROR"
MSG_INFERENCE_NOT_RUNNING_PREFIX = "status is not running"
"""Prefix of ``status is not running (status: stopped)``; the status in brackets varies."""


def inference_not_running_message(status: str) -> str:
    """The Inference error message for a prediction API that is not running (spec 4.14)."""
    return f"{MSG_INFERENCE_NOT_RUNNING_PREFIX} (status: {status})"


def http_status_for_code(code: str | int) -> int:
    """HTTP status that goes with a 10-digit error code (spec 7.10: its first three digits)."""
    text = str(code)
    status = int(text[:3]) if len(text) >= 3 and text[:3].isdigit() else 500
    return status if 400 <= status <= 599 else 500


# --------------------------------------------------------------------------------------------
# Job status (spec 5, 7.2)
# --------------------------------------------------------------------------------------------


class JobState(str, enum.Enum):
    """What a training or retraining job status string means to a client (spec 7.2).

    The service documents only ``finished`` (train) and ``job_finished`` (retrain). Every other
    value is interpreted by :func:`job_state`; operators, sensors, triggers and the emulator all
    use that one function.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not JobState.RUNNING


TRAIN_STATUS_FINISHED = "finished"
RETRAIN_STATUS_FINISHED = "job_finished"
SUCCESS_STATUSES = frozenset({TRAIN_STATUS_FINISHED, RETRAIN_STATUS_FINISHED})
FAILURE_MARKERS = ("fail", "error", "cancel", "abort")

# Non-terminal and failure values the emulator reports. The real service's values are unknown;
# these were chosen so that :func:`job_state` classifies them exactly as it would the real ones.
TRAIN_STATUS_QUEUED = "queued"
TRAIN_STATUS_RUNNING = "running"
TRAIN_STATUS_FAILED = "failed"
RETRAIN_STATUS_QUEUED = "job_queued"
RETRAIN_STATUS_RUNNING = "job_running"
RETRAIN_STATUS_FAILED = "job_failed"


def job_state(status: str | None, *, result_available: bool = False) -> JobState:
    """Classify a training / retraining ``status`` string (spec 7.2).

    ``finished`` / ``job_finished`` — or a present ``result_url`` / ``download_url``
    (``result_available``) — is success; a status containing "fail", "error", "cancel" or
    "abort" (any case) is a terminal failure; anything else, including an unknown or missing
    value, means "keep polling".
    """
    text = (status or "").strip().lower()
    if text in SUCCESS_STATUSES:
        return JobState.SUCCEEDED
    if any(marker in text for marker in FAILURE_MARKERS):
        return JobState.FAILED
    if result_available:
        return JobState.SUCCEEDED
    return JobState.RUNNING


class JobKind(str, enum.Enum):
    """Which kind of Prediction One job a task waits for."""

    TRAIN = "train"
    RETRAIN = "retrain"

    @property
    def label(self) -> str:
        """The job's name in messages: ``training`` or ``retraining``."""
        return "training" if self is JobKind.TRAIN else "retraining"

    @property
    def id_name(self) -> str:
        """The name of the job's id: ``external_process_id`` or ``retrain_job_id``."""
        return "external_process_id" if self is JobKind.TRAIN else "retrain_job_id"


# --------------------------------------------------------------------------------------------
# Prediction API (classifier) status (spec 4.11, 7.9)
# --------------------------------------------------------------------------------------------


class ClassifierStatus(str, enum.Enum):
    """Documented prediction-API statuses, plus ``stopped`` seen in an Inference error (7.9)."""

    BUILDING = "building"
    RUNNING = "running"
    UPDATING = "updating"
    FAILED = "failed"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    STOPPED = "stopped"


class ClassifierTarget(str, enum.Enum):
    """The state a wait for a prediction API ends in."""

    RUNNING = "running"
    """Status ``running`` with a non-null ``url``: ready for Inference (spec 1.2, 7.9)."""
    STOPPED = "stopped"
    """Status ``terminated`` / ``stopped`` (spec 7.9), or the prediction API no longer exists."""

    @property
    def label(self) -> str:
        """The goal in messages: ``running`` or ``stopped``."""
        return self.value


CLASSIFIER_READY = frozenset({ClassifierStatus.RUNNING.value})
CLASSIFIER_STOPPED = frozenset({ClassifierStatus.TERMINATED.value, ClassifierStatus.STOPPED.value})
CLASSIFIER_FAILED = frozenset({ClassifierStatus.FAILED.value})

# --------------------------------------------------------------------------------------------
# Uploads, column info, config (spec 4.2, 4.4, 4.15, 7.6, 7.12 – 7.14)
# --------------------------------------------------------------------------------------------

UPLOAD_EXTENSION = "csv"
COLUMN_INFO_ENCODING = "utf-8-sig"
COLUMN_INFO_HEADER = ("column_name", "column_type")


class ColumnType(str, enum.Enum):
    """Column types for the column-info file. The API example uses string, date and float;
    ``text`` is free text (spec 7.12). ``integer`` and ``ignore`` are unverified for the cloud API
    and therefore not offered."""

    STRING = "string"
    FLOAT = "float"
    DATE = "date"
    TEXT = "text"


RETRAIN_ZIP_TRAIN_DIR = "train_src"
RETRAIN_ZIP_EVAL_DIR = "eval_src"


class PredictionType(str, enum.Enum):
    """Values of the Train config key ``tt``."""

    BINARY_CLASSIFICATION = "binary_classification"
    MULTI_CLASSIFICATION = "multi_classification"
    REGRESSION = "regression"


class TimeUnit(str, enum.Enum):
    """Values of the Train config key ``tsu``."""

    YEAR = "year"
    MONTH = "month"
    DAY = "day"
    HOUR = "hour"
    MINUTE = "minute"
    END_OF_MONTH = "eom"


CONFIG_KEYS = ("tc", "tt", "tv", "cv", "im", "tsm", "tsu", "tsc", "tsi", "tsf", "tst", "tss", "tsin", "tsine")
CONFIG_STRING_NUMBERS = frozenset({"cv", "tsi", "tsf", "tst"})
"""Numeric config options sent as decimal strings, mirroring the manual's example (7.6)."""
CONFIG_BOOLEANS = frozenset({"im", "tsm", "tsin"})

MIN_TRAINING_ROWS = 100
MAX_TRAINING_ROWS = 1_000_000
MIN_COLUMNS = 2
MAX_COLUMNS = 200
MIN_TIME_SERIES_ROWS = 20
MAX_TIME_SERIES_ROWS = 10_000
MAX_CLASSES = 200

# --------------------------------------------------------------------------------------------
# Inference (spec 4.14, 7.18)
# --------------------------------------------------------------------------------------------

INFERENCE_CONTENT_TYPE = "application/json; charset=utf-8"
INFERENCE_INPUT_CSV = "pr"
INFERENCE_FLAG_REASONS = "ar"
INFERENCE_FLAG_INPUT_DATA = "ad"
INFERENCE_FLAG_NO_CLASS = "nc"
INFERENCE_FLAG_NO_ROW_NUMBER = "nr"
INFERENCE_PIVOT_COLUMN = "pc"
OUTPUT_PREDICTION = "prediction_valid.csv"
OUTPUT_REASONS = "prediction_analysis.csv"

# Result files (spec 7.20: undocumented; the desktop CLI's names, which the emulator writes) and the
# columns of prediction outputs. The prediction columns of the real service are not documented either:
# readers look for these names and say which columns they found when they are absent.
RESULT_METRICS_FILE = "metrics.csv"
RESULT_EVALUATION_FILE = "evaluation_raw_data.csv"
ROW_NUMBER_COLUMN = "row_number"
ACTUAL_COLUMN = "actual"
PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class ErrorSpec:
    """One documented error row: code, symbolic error and verbatim message."""

    code: str
    error: str
    message: str

    @property
    def http_status(self) -> int:
        return http_status_for_code(self.code)

    def body(self) -> dict[str, str]:
        return {"code": self.code, "error": self.error, "message": self.message}


def bad_request(message: str) -> ErrorSpec:
    """A management-API bad-request row (all share code 4001000204, spec 3)."""
    return ErrorSpec(CODE_BAD_REQUEST, ERROR_BAD_REQUEST, message)


CONFIGURATION_FILE_NOT_FOUND = ErrorSpec(CODE_INTERNAL, ERROR_INTERNAL, MSG_CONFIGURATION_FILE_NOT_FOUND)
INFERENCE_CLASSIFIER_NOT_FOUND = ErrorSpec(
    CODE_INFERENCE_CLASSIFIER_NOT_FOUND, ERROR_INFERENCE_CLASSIFIER_NOT_FOUND, MSG_INFERENCE_CLASSIFIER_NOT_FOUND
)
INFERENCE_BAD_REQUEST = ErrorSpec(CODE_INFERENCE_BAD_REQUEST, ERROR_INFERENCE_BAD_REQUEST, MSG_INFERENCE_BAD_REQUEST)
INFERENCE_INVALID_API_KEY = ErrorSpec(
    CODE_INFERENCE_ACCESS_DENIED, ERROR_INFERENCE_ACCESS_DENIED, MSG_INFERENCE_INVALID_API_KEY
)
INFERENCE_INVALID_CLASSIFIER_ID = ErrorSpec(
    CODE_INFERENCE_ACCESS_DENIED, ERROR_INFERENCE_ACCESS_DENIED, MSG_INFERENCE_INVALID_CLASSIFIER_ID
)
INFERENCE_IP_NOT_ALLOWED = ErrorSpec(
    CODE_INFERENCE_ACCESS_DENIED, ERROR_INFERENCE_ACCESS_DENIED, MSG_INFERENCE_IP_NOT_ALLOWED
)


def inference_not_running(status: str) -> ErrorSpec:
    return ErrorSpec(CODE_INFERENCE_UNAVAILABLE, ERROR_INFERENCE_UNAVAILABLE, inference_not_running_message(status))


# --------------------------------------------------------------------------------------------
# Deferred waits: the statuses of the one event a trigger fires
# --------------------------------------------------------------------------------------------

EVENT_SUCCESS = "success"
EVENT_FAILED = "failed"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"
EVENT_STATUSES = frozenset({EVENT_SUCCESS, EVENT_FAILED, EVENT_TIMEOUT, EVENT_ERROR})
"""Every value of a trigger event's ``status``."""
