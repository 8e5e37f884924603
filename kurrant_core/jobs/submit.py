"""Submitting a retrain: one job row and the lock, taken together, then a detached worker.

The job row and the lock are written in one transaction, so a refused submission leaves nothing
behind and an accepted one can never lose its lock to a second submitter. The worker is a separate
process (``python -m kurrant_core retrain --job ID``) in its own session with its output in a log
file: a page reload, a closed tab or a restarted dashboard does not stop it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from kurrant_core import access, config
from kurrant_core.audit import audited
from kurrant_core.errors import KurrantError
from kurrant_core.jobs import evaluation_process, lock, store
from kurrant_core.jobs.memory import check_memory
from kurrant_core.jobs.recovery import recover_stale
from kurrant_core.jobs.spec import RetrainSpec
from kurrant_core.schema import RUN_FAILED

LOG_FOLDER = "jobs"


class JobRefused(KurrantError):
    """Another retrain holds the lock; ``holder_job_id`` says which."""

    def __init__(self, message: str, holder_job_id: int | None, *, key: str | None = None, **values: object):
        super().__init__(message, key=key, **values)
        self.holder_job_id = holder_job_id


class _LockHeld(Exception):
    """Internal: rolls the submission's transaction back."""


def job_log_path(job_id: int) -> Path:
    """Where a detached worker writes its output (under the artifact root)."""
    return config.artifact_root() / LOG_FOLDER / f"job_{job_id}.log"


def submit(engine: sa.Engine, spec: RetrainSpec, *, by: access.Person, launch: bool = True) -> int:
    """Queue a retrain (or an apply-a-policy job) for ``by`` and take the lock for it; with
    ``launch``, start its detached worker.

    ``by`` must be allowed to retrain (``access.AccessDenied`` otherwise); the job row, the lock
    and the audit row commit together. Raises :class:`JobRefused` when another retrain holds the
    lock (after recovering a holder that died), and KurrantError for an invalid spec; both are
    audited as failed. Returns the job id.
    """
    action = access.APPLY_POLICY if spec.apply_to_run is not None else access.RETRAIN
    target = (f"run {spec.apply_to_run} → policy {spec.model_policy(spec.models[0]) if spec.models else '?'}"
              if spec.apply_to_run is not None else spec.models_text())
    if spec.ensemble is not None:
        action = access.MAKE_ENSEMBLE
        target = f"ensemble {spec.ensemble.get('rule')} of runs {spec.ensemble.get('members')}"
    with audited(engine, by, action, target) as act:
        spec.validate()
        spec.validate_policies(engine)
        check_memory(engine, both=spec.evaluate and evaluation_process.mode() == "on")
        recover_stale(engine)
        try:
            with engine.begin() as conn:
                job_id = store.insert_job(conn, spec, by.who)
                if not lock.try_acquire(conn, job_id):
                    raise _LockHeld
                act.done(conn, f"job {job_id}: {target}")
        except _LockHeld:
            raise refusal(engine) from None
        if launch:
            launch_worker(engine, job_id)
    return job_id


def refusal(engine: sa.Engine) -> JobRefused:
    """The error for a refused submission, naming the job that holds the lock and since when."""
    held = lock.holder(engine)
    if held is None:
        return JobRefused("Another retrain finished just as this one was submitted; submit again.",
                          None, key="err.job_lock_gone")
    job = store.get_job(engine, held.job_id)
    who = f" by {job.triggered_by}" if job.triggered_by else ""
    return JobRefused(
        f"Another retrain is running: job {job.job_id} ({', '.join(job.spec.models)}), "
        f"submitted{who} at {job.created_at}, running since {job.started_at or held.acquired_at} "
        f"(now: {job.stage or job.status_label}). Only one retrain runs at a time: wait for it to "
        f"finish, or cancel it (`python -m kurrant_core cancel {job.job_id}` or the Cancel button).",
        job.job_id, key="err.job_lock", job_id=job.job_id, models=", ".join(job.spec.models))


def launch_worker(engine: sa.Engine, job_id: int) -> subprocess.Popen:
    """Start ``python -m kurrant_core retrain --job ID`` detached from this process.

    The DE URL travels in the environment (never on the command line, where ``ps`` shows it). A
    daemon thread reaps the process when it exits, so a long-lived dashboard keeps no zombies.
    """
    path = job_log_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{config.ENV_DE_URL: engine.url.render_as_string(hide_password=False),
                              "PYTHONUNBUFFERED": "1"})
    try:
        with path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kurrant_core", "retrain", "--job", str(job_id)],
                cwd=config.PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        with engine.begin() as conn:
            store.finish_job(conn, job_id, RUN_FAILED, error=f"The worker did not start: {exc}")
            lock.release(conn, job_id)
        raise KurrantError(f"The retrain worker could not be started ({exc}); job {job_id} was "
                           "marked failed. Check the Python environment and try again.",
                           key="err.worker_start", job_id=job_id) from None
    threading.Thread(target=proc.wait, name=f"reap-retrain-{job_id}", daemon=True).start()
    return proc
