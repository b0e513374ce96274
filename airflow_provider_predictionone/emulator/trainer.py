"""What a training or retraining job does with its files: the data set record of its training
file, the baseline model fit, the model file and the result archive (the work a
:class:`~.jobs.JobRunner` runs)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_predictionone.emulator.baseline.models import save_model
from airflow_provider_predictionone.emulator.baseline.training import train
from airflow_provider_predictionone.emulator.config import TrainConfig
from airflow_provider_predictionone.emulator.datasets.analysis import StatsCache
from airflow_provider_predictionone.emulator.datasets.reading import read_column_info
from airflow_provider_predictionone.emulator.state import DataSet, Job, Model, Store, User


def snapshot(source: Path, destination: Path) -> None:
    """Freeze an uploaded file for a job (hard link when possible; later re-uploads replace the
    upload slot's file, never this one)."""
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


class Trainer:
    """Fits models of ``store``'s users; ``stats`` caches the statistics of their files."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stats = StatsCache()

    def add_data_set(self, user: User, name: str, extension: str, path: Path) -> DataSet:
        """Record a data set for a training file; its counts come from already computed
        statistics, or are filled in by the job (:meth:`fit`)."""
        stats = self.stats.cached(path)
        token = self.store.add_download(user, path, "text/csv; charset=utf-8", f"{name}.{extension}")
        with self.store.lock:
            data_set_id = user.next_data_set_id
            user.next_data_set_id += 1
            now = time.time()
            user.data_sets[data_set_id] = DataSet(
                data_set_id,
                user,
                name,
                extension,
                column_count=len(stats.header) if stats else 0,
                data_count=stats.row_count if stats else 0,
                data_size=path.stat().st_size,
                token=token,
                created=now,
                updated=now,
            )
            return user.data_sets[data_set_id]

    def fit(
        self, model: Model, config: TrainConfig, learn: Path, eval_path: Path | None, data_set: DataSet
    ) -> Callable[[Job], None]:
        """Train ``model`` from the files in its folder (``column_info.csv``, ``learn``, optional
        ``eval_path``) and write ``model.json`` and ``result.zip``; returns what makes the job
        finished (its result URL, the model ready)."""
        stats = self.stats.stats(learn)
        with self.store.lock:
            data_set.column_count, data_set.data_count = len(stats.header), stats.row_count
        column_types = read_column_info(model.directory / "column_info.csv")
        archive = model.directory / "result.zip"
        result = train(learn, stats, config, column_types, eval_path, archive)
        save_model(result.model, model.directory / "model.json")
        token = self.store.add_download(model.user, archive, "application/zip", "result.zip")

        def finish(job: Job) -> None:
            job.result_token = token
            model.trained = result.model
            model.state = "ready"
            model.updated = time.time()

        return finish
