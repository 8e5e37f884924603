"""The retrain worker: runs one queued job to its end, whatever happens to the page that asked.

Stages: loading data, then for each model training, evaluating and writing its lists (the shared
pipeline ``runs.train_and_write``), then, if asked, activating the new runs. A background
thread beats every few seconds (job and lock ``heartbeat_at``, the last lines of the log) so a
dead worker can be told from a slow one. Cancel is a flag the job polls between stages and models:
the job ends *stopped*, its unfinished run stopped and invisible, the lock released. Activation
happens only once every model is done, so a failed, stopped or killed job never changes which run
the dashboard and the backend serve.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable

import sqlalchemy as sa

from kurrant_core import access, config, runs
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.tuning import CHOSEN, last_tuning
from kurrant_core.jobs import evaluation_process, lock, store
from kurrant_core.jobs.evaluate import RunEvaluator
from kurrant_core.jobs.recovery import fail_unfinished_runs
from kurrant_core.jobs.spec import RetrainSpec
from kurrant_core.jobs.store import JobRecord
from kurrant_core.policies import get_policy
from kurrant_core.schema import RUN_DONE, RUN_FAILED, RUN_QUEUED, RUN_STATUS, RUN_STOPPED

log = logging.getLogger(__name__)
DEFAULT_HEARTBEAT_S = 5.0
"""Seconds between heartbeats (``KURRANT_JOB_HEARTBEAT_S``); keep well under the stale limit."""
LOG_TAIL_LINES = 200
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def heartbeat_s() -> float:
    return float(config.setting("job_heartbeat_s", str(DEFAULT_HEARTBEAT_S)))


class LogTail(logging.Handler):
    """Keeps the last ``LOG_TAIL_LINES`` log lines for ``rec_job.log_tail``."""

    def __init__(self, lines: int = LOG_TAIL_LINES):
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.last_line_at = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.add(self.format(record))
        self.last_line_at = time.monotonic()

    def add(self, text: str) -> None:
        self._lines.extend(text.splitlines())

    def text(self) -> str:
        return "\n".join(self._lines)


class Heartbeat(threading.Thread):
    """Refreshes the job's and the lock's ``heartbeat_at`` (and the log tail) every interval.

    A stage that has logged nothing for an interval (a large world's hybrid fit: 40 s without a
    line of its own) gets a line saying it is still at work and for how long, so the log tail
    moves at least every two intervals (10 s by default). ``lost`` turns true when the job no
    longer holds the lock (someone recovered it as dead while this process was frozen); the job
    then stops at its next check.
    """

    def __init__(self, engine: sa.Engine, job_id: int, tail: LogTail, interval: float):
        super().__init__(name=f"heartbeat-job-{job_id}", daemon=True)
        self.engine, self.job_id, self.tail, self.interval = engine, job_id, tail, interval
        self.lost = False
        self._halt = threading.Event()
        self._stage: tuple[str, float] | None = None

    def entered(self, stage: str) -> None:
        """The job's current stage (the progress text), from now."""
        self._stage = (stage, time.monotonic())

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        stage = self._stage
        if stage is not None and time.monotonic() - self.tail.last_line_at >= self.interval:
            log.info("%s: still at work (%.0f s)", stage[0], time.monotonic() - stage[1])
        stamp = lock.now()
        try:
            with self.engine.begin() as conn:
                held = lock.beat(conn, self.job_id, stamp)
                store.write_heartbeat(conn, self.job_id, stamp, self.tail.text())
        except sa.exc.SQLAlchemyError as exc:      # a busy database must not kill the job
            log.warning("heartbeat of job %s failed: %s", self.job_id, exc)
            return
        if not held and not self.lost:
            self.lost = True
            log.error("job %s lost the retrain lock (recovered as dead); stopping", self.job_id)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=max(self.interval, 5.0) * 2)


def run_job(engine: sa.Engine, job_id: int) -> JobRecord:
    """Run a queued job in this process until it is done, stopped or failed; its final record.

    Errors inside the job end it as failed (the message in ``rec_job.error``, the traceback in
    its log tail) rather than propagate; an interrupt (Ctrl-C, SIGTERM turned into SystemExit)
    ends it as failed and is re-raised.
    """
    job = store.get_job(engine, job_id)
    if job.status != RUN_QUEUED:
        raise KurrantError(f"Job {job_id} is {job.status_label}; only a queued job can be run. "
                           "Submit a new retrain instead.")
    pid, host = os.getpid(), lock.this_host()
    if not lock.take_over(engine, job_id, pid, host):
        with engine.begin() as conn:
            store.finish_job(conn, job_id, RUN_FAILED, error="The job did not hold the retrain "
                             "lock when its worker started (it was presumed dead).")
        raise KurrantError(f"Job {job_id} no longer holds the retrain lock (it waited too long and "
                           "was recovered as dead); submit a new retrain.")
    store.mark_started(engine, job_id, pid, host)
    tail = LogTail()
    root, root_level = logging.getLogger(), logging.getLogger().level
    root.addHandler(tail)
    if root_level > logging.INFO or root_level == logging.NOTSET:
        root.setLevel(logging.INFO)
    heartbeat = Heartbeat(engine, job_id, tail, heartbeat_s())
    heartbeat.start()
    status, error, interrupt = RUN_FAILED, None, None
    log.info("job %s started (pid %s on %s): %s", job_id, pid, host, ", ".join(job.spec.models))
    try:
        _train_all(engine, job, lambda: heartbeat.lost or store.cancel_requested(engine, job_id),
                   heartbeat.entered)
        status = RUN_DONE
    except runs.RunCancelled:
        status = RUN_STOPPED
        log.info("job %s cancelled", job_id)
    except Exception as exc:
        error = str(exc) if isinstance(exc, KurrantError) else f"{type(exc).__name__}: {exc}"
        log.error("job %s failed: %s", job_id, error)
        tail.add(traceback.format_exc())
    except BaseException as exc:               # KeyboardInterrupt, SystemExit: end cleanly, re-raise
        error, interrupt = f"interrupted ({type(exc).__name__})", exc
        log.error("job %s interrupted", job_id)
    finally:
        heartbeat.halt()
        _end(engine, job_id, status, error, tail)
        root.removeHandler(tail)
        root.setLevel(root_level)
    if interrupt is not None:
        raise interrupt
    return store.get_job(engine, job_id)


def _end(engine: sa.Engine, job_id: int, status: int, error: str | None, tail: LogTail) -> None:
    """Record the verdict, end unfinished runs and free the lock, whatever the outcome."""
    if status != RUN_DONE:
        fail_unfinished_runs(engine, job_id, error or "the job was cancelled",
                             status=RUN_STOPPED if status == RUN_STOPPED else RUN_FAILED)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log.info("job %s %s; peak memory %.0f MiB", job_id, RUN_STATUS[status], peak_mib)
    with engine.begin() as conn:
        store.finish_job(conn, job_id, status, error=error, stage=RUN_STATUS[status],
                         log_tail=tail.text())
        lock.release(conn, job_id)


def _apply_policy(engine: sa.Engine, job: JobRecord, report: Callable[[str, float], None]) -> dict[str, int]:
    """The job "apply a policy to a done run": one new run from its saved model, no refit."""
    spec = job.spec
    name = spec.models[0]
    report(f"{name}: applying policy {spec.model_policy(name, engine)} to run {spec.apply_to_run}", 0.1)
    run_id = runs.apply_policy_to_run(engine, spec.apply_to_run, get_policy(engine, spec.model_policy(name, engine)),
                                      triggered_by=job.triggered_by, job_id=job.job_id, lock_job=job.job_id)
    if spec.activate:
        runs.activate_run(engine, run_id, by=access.job_person(job.triggered_by))
    return {name: run_id}


def _make_ensemble(engine: sa.Engine, job: JobRecord, report: Callable[[str, float], None],
                   should_stop: Callable[[], bool]) -> dict[str, int]:
    """The job "make an ensemble": the member runs fused into one new run (``ensembles``)."""
    from kurrant_core.ensembles import DEFAULT_RRF_K, ENSEMBLE_MODEL, build_ensemble
    wanted = job.spec.ensemble
    run_id = build_ensemble(engine, [int(m) for m in wanted["members"]], wanted["rule"],
                            rrf_k=float(wanted.get("rrf_k", DEFAULT_RRF_K)), weights=wanted.get("weights"),
                            policy=wanted.get("policy"), triggered_by=job.triggered_by, job_id=job.job_id,
                            progress=report, should_stop=should_stop)
    if job.spec.activate:
        runs.activate_run(engine, run_id, by=access.job_person(job.triggered_by))
    return {ENSEMBLE_MODEL: run_id}


def _chosen_params(engine: sa.Engine, spec: RetrainSpec, name: str) -> tuple[dict, dict | None]:
    """A model's hyper-parameters in this job (the last tuned values, then the job's own) and the
    tuning they came from (None when never tuned)."""
    tuned = last_tuning(engine, name)          # retrain uses the last tuned values by default
    return {**(tuned[CHOSEN] if tuned else {}), **spec.model_params(name)}, tuned


def _evaluator(engine: sa.Engine, spec: RetrainSpec, data: TrainingData, chosen: dict[str, tuple[dict, dict | None]],
               should_stop: Callable[[], bool]) -> contextlib.AbstractContextManager:
    """The job's evaluation hook as a context: none, the in-process ``RunEvaluator``, or, on a world
    where it pays and the runs are judged by twins, an ``EvaluationProcess`` beside the job."""
    if not spec.evaluate:
        return contextlib.nullcontext(None)
    evaluator = RunEvaluator(engine, k=spec.k, horizon_days=spec.horizon_days)
    if evaluation_process.use_process(len(data.orders)) and evaluator.needs_twin(data):
        return evaluation_process.EvaluationProcess(
            engine, [(name, params) for name, (params, _) in chosen.items()], k=spec.k,
            horizon_days=spec.horizon_days, should_stop=should_stop)
    return contextlib.nullcontext(evaluator)


def _train_all(engine: sa.Engine, job: JobRecord, should_stop: Callable[[], bool],
               entered: Callable[[str], None] | None = None) -> dict[str, int]:
    """Every model of the job through the shared pipeline, then activation; model -> run id.
    ``entered(stage)`` hears each new stage (the heartbeat's "still at work" lines name it)."""
    spec, n = job.spec, len(job.spec.models)

    def report(stage: str, fraction: float) -> None:
        log.info("[%3.0f%%] %s", 100 * fraction, stage)
        store.report_progress(engine, job.job_id, stage, fraction)
        if entered is not None:
            entered(stage)

    def check_stop() -> None:
        if should_stop():
            raise runs.RunCancelled(f"Job {job.job_id} was cancelled.")

    check_stop()
    if spec.apply_to_run is not None:
        return _apply_policy(engine, job, report)
    if spec.ensemble is not None:
        return _make_ensemble(engine, job, report, should_stop)
    report("loading data", 0.0)
    data = build_training_data(engine, spec.cutoff)
    chosen = {name: _chosen_params(engine, spec, name) for name in spec.models}
    run_ids: dict[str, int] = {}
    with _evaluator(engine, spec, data, chosen, should_stop) as evaluator:
        for i, name in enumerate(spec.models):
            check_stop()

            def progress(stage: str, fraction: float, i: int = i, name: str = name) -> None:
                report(f"{name} ({i + 1}/{n}): {stage}", (i + fraction) / n)

            params, tuned = chosen[name]
            run_ids[name] = runs.train_and_write(
                engine, name, params, cutoff=spec.cutoff, k=spec.k,
                run_params={N.TUNING: tuned} if tuned else None,
                policy=get_policy(engine, spec.model_policy(name, engine)),
                dates=list(spec.dates) if spec.dates is not None else None,
                triggered_by=job.triggered_by, job_id=job.job_id, data=data, progress=progress,
                should_stop=should_stop, evaluate=evaluator)
            log.info("%s: run %s done", name, run_ids[name])
    check_stop()
    if spec.activate:
        report("activating the new runs", 1.0)
        for run_id in run_ids.values():
            runs.activate_run(engine, run_id, by=access.job_person(job.triggered_by))
    return run_ids
