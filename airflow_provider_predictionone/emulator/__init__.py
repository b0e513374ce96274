"""A local emulator of the Prediction One cloud REST API (standard library only).

Start it from Python with :class:`Emulator` or from a shell with ``predictionone-emulator``
(``python -m airflow_provider_predictionone.emulator``). See ``docs/emulator.md``.
"""

from __future__ import annotations

from airflow_provider_predictionone.emulator.faults.kinds import FaultError
from airflow_provider_predictionone.emulator.faults.registry import FaultRegistry
from airflow_provider_predictionone.emulator.paths import INFERENCE_PATH
from airflow_provider_predictionone.emulator.server import DEFAULT_SECRET_KEY, Emulator

__all__ = ["DEFAULT_SECRET_KEY", "INFERENCE_PATH", "Emulator", "FaultError", "FaultRegistry"]
