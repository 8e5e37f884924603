"""Retrain jobs: submitted from the dashboard, the CLI or a scheduler, run by a separate process.

- ``spec``: what a job is asked to do (models, cutoff, k, dates, hyper-parameters), validated;
- ``lock``: the one-retrain-at-a-time lock row and the liveness rules for its holder;
- ``store``: job rows (status, progress, stage, heartbeat, log tail, cancel flag);
- ``submit``: job row + lock in one transaction, then the detached worker;
- ``runner``: the worker (``python -m kurrant_core retrain --job ID``), heartbeat and cancel;
- ``recovery``: a dead worker's job is failed, its runs' rows deleted, the lock freed;
- ``evaluate``: the metrics stored with each run (the evaluation harness's format);
- ``progress``: what the retrain page shows of a job (who may act: ``kurrant_core.access``).

A run's history, comparison and export live with the runs (``kurrant_core.runs``).
"""
from kurrant_core.jobs.lock import LockHolder, holder
from kurrant_core.jobs.progress import JobProgress, ModelProgress, job_progress
from kurrant_core.jobs.recovery import recover_stale
from kurrant_core.jobs.runner import run_job
from kurrant_core.jobs.spec import RetrainSpec, date_span, main_params
from kurrant_core.jobs.store import JobRecord, get_job, jobs_frame, latest_job, list_jobs, request_cancel
from kurrant_core.jobs.submit import JobRefused, job_log_path, launch_worker, submit

__all__ = [
    "JobProgress", "JobRecord", "JobRefused", "LockHolder", "ModelProgress", "RetrainSpec", "date_span",
    "get_job", "holder", "job_log_path", "job_progress", "jobs_frame", "latest_job", "launch_worker",
    "list_jobs", "main_params", "recover_stale", "request_cancel", "run_job", "submit"]
