"""A running job seen per model: how far each is, in which state, for how long.

The job reports one overall fraction, ``(models finished + fraction of the current one) / n``;
each model's share of it, together with the run each model wrote (``rec_run.job_id``), gives a
progress bar per model without a table of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.jobs import store
from kurrant_core.jobs.lock import now
from kurrant_core.jobs.store import JobRecord
from kurrant_core.schema import RUN_DONE, RUN_STATUS

WAITING = "waiting"
NOT_RUN = "not run"
_runs = schema.rec_run


@dataclass(frozen=True)
class ModelProgress:
    """One model of a job: its progress bar, state (a run status, waiting or not run) and time."""

    model: str
    fraction: float
    state: str
    elapsed_s: float | None
    run_id: int | None


@dataclass(frozen=True)
class JobProgress:
    job: JobRecord
    models: list[ModelProgress]


def _runs_of(engine: sa.Engine, job_id: int) -> dict[str, sa.RowMapping]:
    """The newest run each model wrote for the job."""
    query = (sa.select(_runs.c[C.RUN_ID], _runs.c.model, _runs.c.status, _runs.c.started_at,
                       _runs.c.finished_at)
             .where(_runs.c[C.JOB_ID] == job_id).order_by(_runs.c[C.RUN_ID]))
    with engine.connect() as conn:
        return {row[_runs.c.model]: row for row in conn.execute(query).mappings()}


def _seconds(start: datetime | None, end: datetime | None, at: datetime) -> float | None:
    return None if start is None else max(0.0, ((end or at) - start).total_seconds())


def job_progress(engine: sa.Engine, job_id: int, *, at: datetime | None = None) -> JobProgress:
    """The job and one :class:`ModelProgress` per model, in training order."""
    job = store.get_job(engine, job_id)
    runs, at = _runs_of(engine, job_id), at or now()
    n = len(job.spec.models)
    models = []
    for i, name in enumerate(job.spec.models):
        run = runs.get(name)
        share = min(max(job.progress * n - i, 0.0), 1.0)
        if run is None:
            state, elapsed, run_id = (WAITING if job.is_running else NOT_RUN), None, None
        else:
            status = int(run[_runs.c.status])
            state, run_id = RUN_STATUS.get(status, str(status)), int(run[_runs.c[C.RUN_ID]])
            elapsed = _seconds(run[_runs.c.started_at], run[_runs.c.finished_at], at)
            share = 1.0 if status == RUN_DONE else share
        models.append(ModelProgress(name, share, state, elapsed, run_id))
    return JobProgress(job, models)
