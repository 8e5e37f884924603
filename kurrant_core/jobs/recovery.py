"""Recovering from a retrain whose worker died (killed, crashed host, out of memory).

A dead holder is recognised by its lock (see :func:`lock.why_stale`). Recovery frees the lock,
marks the job failed with the reason, and fails the job's unfinished runs, which deletes their
rows and artifacts: the previously active run of each model was never touched, so the dashboard
and the backend keep serving it. A job that is still queued or learning without holding the lock
(its lock was recovered while it was frozen) is an orphan and ends the same way.
"""
from __future__ import annotations

import logging
import shutil
from datetime import datetime

import sqlalchemy as sa

from kurrant_core import columns as C, runs, schema
from kurrant_core.jobs import lock, store
from kurrant_core.schema import RUN_FAILED, RUN_LEARNING, RUN_QUEUED, RUN_STOPPED

log = logging.getLogger(__name__)
_runs = schema.rec_run


def recover_stale(engine: sa.Engine, *, stale_after: float | None = None,
                  at: datetime | None = None) -> list[int]:
    """Fail every job whose worker is gone and free the lock it held; the recovered job ids."""
    lock.ensure_lock_row(engine)
    recovered: list[int] = []
    held = lock.holder(engine)
    reason = lock.why_stale(held, at=at, stale_after=stale_after) if held else None
    if held is not None and reason is not None:
        with engine.begin() as conn:
            freed = lock.release(conn, held.job_id, heartbeat_at=held.heartbeat_at)
            if freed:
                store.finish_job(conn, held.job_id, RUN_FAILED, stage="failed (worker lost)",
                                 error=f"The retrain worker died: {reason}. Marked failed on "
                                       "recovery; the previous active runs were kept.")
        if freed:
            recovered.append(held.job_id)
            log.warning("recovered retrain job %s: %s", held.job_id, reason)
    recovered += _end_orphans(engine)
    for job_id in recovered:
        fail_unfinished_runs(engine, job_id, "the job's worker died before the run finished")
    return recovered


def _end_orphans(engine: sa.Engine) -> list[int]:
    """Running jobs that do not hold the lock can never finish: fail them. The check that the job
    holds no lock sits in the UPDATE itself, so a job submitted meanwhile is never caught."""
    with engine.connect() as conn:
        candidates = store.running_job_ids(conn)
    orphans = []
    for job_id in candidates:
        with engine.begin() as conn:
            if store.finish_job(conn, job_id, RUN_FAILED, stage="failed (lost the lock)",
                                error="The job no longer held the retrain lock (its worker was "
                                      "presumed dead); marked failed on recovery.",
                                unless_holding_lock=True):
                orphans.append(job_id)
    return orphans


def fail_unfinished_runs(engine: sa.Engine, job_id: int, reason: str, *,
                         status: int = RUN_FAILED) -> list[int]:
    """End the job's queued/learning runs (rows deleted, artifacts removed); their ids."""
    if status not in (RUN_FAILED, RUN_STOPPED):
        raise ValueError("unfinished runs end as failed or stopped")
    with engine.connect() as conn:
        run_ids = [int(r) for r in conn.execute(
            sa.select(_runs.c[C.RUN_ID]).where(_runs.c[C.JOB_ID] == job_id,
                                               _runs.c.status.in_((RUN_QUEUED, RUN_LEARNING))))
            .scalars()]
    for run_id in run_ids:
        runs.fail_run(engine, run_id, reason, status=status)
        shutil.rmtree(runs.artifact_folder(engine, run_id), ignore_errors=True)
    return run_ids
