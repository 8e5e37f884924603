"""Retrain job rows (``rec_job``): create, read, report progress, request cancel, finish.

Status codes are the run codes (queued, learning, stopped, done, failed). A job ends only through
:func:`finish_job`, which flips a *running* job once: a job already ended elsewhere (recovered as
dead while its worker was frozen) keeps the verdict it got.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from kurrant_core import access, columns as C, schema
from kurrant_core.audit import audited
from kurrant_core.errors import KurrantError
from kurrant_core.jobs.lock import now
from kurrant_core.jobs.spec import RetrainSpec
from kurrant_core.schema import RUN_LEARNING, RUN_QUEUED, RUN_STATUS

_job = schema.rec_job
_lock = schema.rec_lock
RUNNING = (RUN_QUEUED, RUN_LEARNING)
"""A job in one of these states has not ended yet."""
ERROR_CHARS = 10_000


@dataclass(frozen=True)
class JobRecord:
    """One ``rec_job`` row, with its spec decoded."""

    job_id: int
    status: int
    progress: float
    stage: str | None
    spec: RetrainSpec
    triggered_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    pid: int | None
    host: str | None
    cancel_requested: bool
    error: str | None
    log_tail: str | None

    @property
    def status_label(self) -> str:
        return RUN_STATUS.get(self.status, str(self.status))

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING

    def elapsed_s(self, at: datetime | None = None) -> float:
        """Seconds since the worker started (0 while queued), up to the end or ``at``."""
        if self.started_at is None:
            return 0.0
        return max(0.0, ((self.finished_at or at or now()) - self.started_at).total_seconds())


def _record(row: sa.RowMapping) -> JobRecord:
    c = _job.c
    return JobRecord(
        job_id=int(row[c[C.JOB_ID]]), status=int(row[c.status]),
        progress=float(row[c.progress] or 0.0),
        stage=row[c.stage], spec=RetrainSpec.from_row(row[c.models], row[c.params]),
        triggered_by=row[c.triggered_by], created_at=row[c.created_at], started_at=row[c.started_at],
        finished_at=row[c.finished_at], heartbeat_at=row[c.heartbeat_at], pid=row[c.pid],
        host=row[c.host], cancel_requested=bool(row[c.cancel_requested]), error=row[c.error],
        log_tail=row[c.log_tail])


def insert_job(conn: sa.Connection, spec: RetrainSpec, triggered_by: str | None) -> int:
    """A queued job row inside the caller's transaction; its id."""
    values = {_job.c.status.name: RUN_QUEUED, _job.c.progress.name: 0.0,
              _job.c.stage.name: "queued", _job.c.models.name: spec.models_text(),
              _job.c.params.name: spec.to_json(), _job.c.triggered_by.name: triggered_by,
              _job.c.created_at.name: now(), _job.c.cancel_requested.name: False}
    return int(conn.execute(_job.insert().values(values)).inserted_primary_key[0])


def get_job(engine: sa.Engine, job_id: int) -> JobRecord:
    """The job's record; KurrantError when there is no such job."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_job).where(_job.c[C.JOB_ID] == job_id)).mappings().first()
    if row is None:
        raise KurrantError(f"Job {job_id} does not exist. List the jobs with `python -m kurrant_core "
                           "jobs` and pick one of their ids.", key="err.unknown_job", job_id=job_id)
    return _record(row)


def list_jobs(engine: sa.Engine, limit: int = 50) -> list[JobRecord]:
    """The newest ``limit`` jobs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_job).order_by(_job.c[C.JOB_ID].desc()).limit(limit)).mappings()
        return [_record(row) for row in rows]


def jobs_frame(jobs: list[JobRecord]) -> pd.DataFrame:
    """Jobs as a table: id, status, models, who, when, how long, stage and error."""
    columns = [C.JOB_ID, C.STATUS_LABEL, _job.c.models.name, _job.c.triggered_by.name,
               _job.c.created_at.name, C.DURATION_S, _job.c.stage.name, _job.c.error.name]
    rows = [(j.job_id, j.status_label, j.spec.models_text(), j.triggered_by, j.created_at,
             round(j.elapsed_s(), 1), j.stage, j.error) for j in jobs]
    return pd.DataFrame(rows, columns=columns)


def latest_job(engine: sa.Engine) -> JobRecord | None:
    """The newest job, running or not (what the retrain page watches)."""
    jobs = list_jobs(engine, limit=1)
    return jobs[0] if jobs else None


def mark_started(engine: sa.Engine, job_id: int, pid: int, host: str) -> bool:
    """Queued -> learning, with the worker's pid and host; False when the job is not queued."""
    stamp = now()
    with engine.begin() as conn:
        done = conn.execute(_job.update().where(_job.c[C.JOB_ID] == job_id,
                                                _job.c.status == RUN_QUEUED)
                            .values(status=RUN_LEARNING, started_at=stamp, heartbeat_at=stamp,
                                    pid=pid, host=host, stage="starting"))
    return done.rowcount == 1


def report_progress(engine: sa.Engine, job_id: int, stage: str, progress: float) -> None:
    with engine.begin() as conn:
        conn.execute(_job.update().where(_job.c[C.JOB_ID] == job_id, _job.c.status == RUN_LEARNING)
                     .values(stage=stage[:200], progress=min(max(float(progress), 0.0), 1.0)))


def write_heartbeat(conn: sa.Connection, job_id: int, stamp: datetime, log_tail: str | None) -> None:
    values = {_job.c.heartbeat_at.name: stamp}
    if log_tail is not None:
        values[_job.c.log_tail.name] = log_tail
    conn.execute(_job.update().where(_job.c[C.JOB_ID] == job_id).values(values))


def cancel_requested(engine: sa.Engine, job_id: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.select(_job.c.cancel_requested)
                                 .where(_job.c[C.JOB_ID] == job_id)).scalar())


def request_cancel(engine: sa.Engine, job_id: int, *, by: access.Person) -> JobRecord:
    """Ask a running job to stop at its next check (between stages and models); its record.

    ``by`` must be allowed to cancel; the request and its audit row commit together."""
    with audited(engine, by, access.CANCEL, f"job {job_id}") as act:
        job = get_job(engine, job_id)
        if not job.is_running:
            raise KurrantError(f"Job {job_id} is already {job.status_label}; only a queued or learning "
                               "job can be cancelled.",
                               key="err.job_not_cancellable", job_id=job_id, status=job.status_label)
        with engine.begin() as conn:
            conn.execute(_job.update().where(_job.c[C.JOB_ID] == job_id)
                         .values(cancel_requested=True))
            act.done(conn)
    return get_job(engine, job_id)


def finish_job(conn: sa.Connection, job_id: int, status: int, *, error: str | None = None,
               stage: str | None = None, log_tail: str | None = None,
               unless_holding_lock: bool = False) -> bool:
    """End a running job as done, stopped or failed (inside the caller's transaction); False when
    it had already ended (or, with ``unless_holding_lock``, when it holds the retrain lock)."""
    values = {_job.c.status.name: status, _job.c.finished_at.name: now()}
    if error is not None:
        values[_job.c.error.name] = error[:ERROR_CHARS]
    if stage is not None:
        values[_job.c.stage.name] = stage[:200]
    if log_tail is not None:
        values[_job.c.log_tail.name] = log_tail
    if status == schema.RUN_DONE:
        values[_job.c.progress.name] = 1.0
    where = [_job.c[C.JOB_ID] == job_id, _job.c.status.in_(RUNNING)]
    if unless_holding_lock:
        where.append(~sa.exists().where(_lock.c[C.JOB_ID] == job_id))
    done = conn.execute(_job.update().where(*where).values(values))
    return done.rowcount == 1


def running_job_ids(conn: sa.Connection) -> list[int]:
    """Ids of jobs that have not ended (queued or learning)."""
    query = sa.select(_job.c[C.JOB_ID]).where(_job.c.status.in_(RUNNING))
    return [int(j) for j in conn.execute(query).scalars()]
