"""A retrain's evaluation in a second process, beside the training.

A retrain trained on everything is judged by a twin of each model fitted before the last
``horizon_days`` (``jobs.evaluate``). The twin needs the model's name and hyper-parameters, not the
fitted model, so on a world large enough for it to matter the job starts one evaluation process
when it starts: it builds the holdout split once, then fits and scores every model's twin in the
job's order while the job fits the real models and writes their lists. The two halves then share
the machine's cores instead of running one after the other (on the large world the twins are about
half of a retrain's work). The job takes each model's metrics when it has written that model's
lists, waiting if the evaluation is behind.

The evaluation process is a fresh interpreter (torch's and OpenMP's threads do not survive a fork),
reads the DE database itself, writes nothing, and sends back each model's stored metrics,
its log lines and, at the end, its peak memory. Torch's threads are split between the two processes.
A failure over there fails the job with its message; a cancelled or failed job ends it.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import sqlalchemy as sa

from kurrant_core import config
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.jobs.memory import available_mb, needed_mb
from kurrant_core.models.base import Recommender
from kurrant_core.process_memory import return_freed_memory
from kurrant_core.runs import RunCancelled

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
"""``KURRANT_EVALUATION_PROCESS``: ``auto`` (a second process when ``use_process`` says it pays),
``on`` (always, where a twin judges the runs), ``off`` (in the job's own process)."""
MIN_ORDER_ITEMS = 300_000
"""Paid order items from which ``auto`` evaluates in a second process: below it the twins take
seconds and starting an interpreter with torch costs more than it saves."""
POLL_S = 0.5
"""Seconds between checks for a cancel while the job waits for a model's metrics."""
TORCH_THREADS_ENV = "KURRANT_TORCH_THREADS"

_METRICS, _LOG, _ERROR, _PEAK = "metrics", "log", "error", "peak"


def mode() -> str:
    value = (config.setting("evaluation_process", "auto") or "auto").strip().lower()
    if value not in MODES:
        raise KurrantError(f"KURRANT_EVALUATION_PROCESS must be one of {', '.join(MODES)}, not {value!r}.")
    return value


def use_process(n_order_items: int, *, cores: int | None = None, free_mb: float | None = None) -> bool:
    """Whether a retrain of ``n_order_items`` evaluates in a second process (``mode``): ``auto`` asks
    for a world of at least ``MIN_ORDER_ITEMS``, two cores and ``needed_mb(both=True)`` free."""
    chosen = mode()
    if chosen != "auto":
        return chosen == "on"
    cores = _cores() if cores is None else cores
    free = available_mb() if free_mb is None else free_mb
    roomy = free is None or free >= needed_mb(n_order_items, both=True)
    return n_order_items >= MIN_ORDER_ITEMS and cores >= 2 and roomy


class EvaluationProcess:
    """``evaluate(model, data) -> metrics`` hook for ``runs.train_and_write`` whose twins are fitted
    in a second process, started by ``start`` with every model of the job, in the job's order.

    A context manager: leaving it ends the process (terminated if it is still working) and gives the
    torch threads back.
    """

    def __init__(self, engine: sa.Engine, models: list[tuple[str, dict]], *, k: int, horizon_days: int,
                 should_stop: Callable[[], bool] | None = None):
        self.url = engine.url.render_as_string(hide_password=False)
        self.models, self.k, self.horizon_days = list(models), k, horizon_days
        self.should_stop = should_stop
        self.peak_mb: float | None = None
        self._results: dict[str, dict | None] = {}
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._threads_before: tuple[str | None, int | None] | None = None

    def __enter__(self) -> EvaluationProcess:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Start the evaluation interpreter: ``python -c`` running ``child_main``, which reads its
        task (JSON) from stdin and sends its results down an inherited pipe. Not
        ``multiprocessing``'s spawn: that re-runs the parent's ``__main__`` script in the child,
        whatever it is (under a test runner that has run a page script, the page)."""
        child_threads, own_threads = _split_cores(_cores())
        receive, send = multiprocessing.Pipe(duplex=False)
        task = json.dumps({"url": self.url, "models": self.models, "k": self.k,
                           "horizon_days": self.horizon_days, "torch_threads": child_threads})
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", CHILD_COMMAND, str(send.fileno())], pass_fds=[send.fileno()],
                stdin=subprocess.PIPE, cwd=config.PROJECT_ROOT,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                    [str(config.PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])})
        finally:
            send.close()                     # the child holds the sending end
        self._conn = receive
        assert self._process.stdin is not None
        self._process.stdin.write(task.encode())
        self._process.stdin.close()
        self._threads_before = _set_torch_threads(own_threads)
        log.info("evaluating %s in a second process (pid %s; torch threads: %d here, %d there)",
                 ", ".join(name for name, _ in self.models), self._process.pid, own_threads, child_threads)

    def __call__(self, model: Recommender, data: TrainingData) -> dict[str, Any] | None:
        return self.metrics(model.name)

    def metrics(self, name: str) -> dict[str, Any] | None:
        """The stored metrics of ``name``'s twin: waits for them, relaying the process's log lines,
        asking ``should_stop`` between waits (``RunCancelled``); a failure over there is raised here."""
        if name not in {m for m, _ in self.models}:
            raise KurrantError(f"{name} is not one of the models this evaluation process judges.")
        while name not in self._results:
            if self.should_stop is not None and self.should_stop():
                raise RunCancelled(f"Cancelled while {name} was being evaluated.")
            self._receive(POLL_S)
        if len(self._results) == len(self.models):     # every twin is done: the job gets the cores
            self._give_threads_back()
        return self._results[name]

    def _give_threads_back(self) -> None:
        if self._threads_before is not None:
            _restore_torch_threads(self._threads_before)
            self._threads_before = None

    def _receive(self, timeout: float) -> None:
        assert self._conn is not None and self._process is not None
        if not self._conn.poll(timeout):
            if self._process.poll() is not None and not self._conn.poll(0):
                raise KurrantError(f"The evaluation process ended (exit code {self._process.returncode}) "
                                   "before it sent every model's metrics.")
            return
        try:
            message = self._conn.recv()
        except EOFError:
            raise KurrantError("The evaluation process ended before it sent every model's metrics.") from None
        self._take(*message)

    def _take(self, kind: str, name, payload) -> None:
        """One message from the process: a log line, a model's metrics, its peak, or its failure."""
        if kind == _LOG:
            log.log(name, "evaluation: %s", payload)
        elif kind == _METRICS:
            self._results[name] = payload
        elif kind == _PEAK:
            self.peak_mb = float(payload)
        else:
            raise KurrantError(f"Evaluating {name} failed: {payload}")

    def close(self) -> None:
        """End the process (waiting briefly for its last words), give the torch threads back."""
        process, self._process = self._process, None
        if process is not None:
            if len(self._results) == len(self.models):
                _wait(process, 10)
            if process.poll() is None:
                process.terminate()
                _wait(process, 10)
            if process.poll() is None:
                process.kill()
                process.wait()
        if self._conn is not None:
            while self._conn.poll(0):           # its last words: log lines, the peak
                try:
                    kind, name, payload = self._conn.recv()
                except (EOFError, OSError):
                    break
                if kind != _ERROR:              # a failure is already the job's (or moot once it ends)
                    self._take(kind, name, payload)
            self._conn.close()
            self._conn = None
        if self.peak_mb is not None:
            log.info("evaluation process peak memory %.0f MiB", self.peak_mb)
        self._give_threads_back()


def _wait(process: subprocess.Popen, seconds: float) -> None:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


# ------------------------------------------------------------------------------ the child
CHILD_COMMAND = "import sys; from kurrant_core.jobs.evaluation_process import child_main; child_main(int(sys.argv[1]))"


def child_main(fd: int) -> None:
    """The evaluation interpreter's entry: the task from stdin, results down the pipe ``fd``."""
    return_freed_memory()
    task = json.loads(sys.stdin.read())
    conn = Connection(fd, readable=False)
    evaluate_models(task["url"], [(name, params) for name, params in task["models"]], task["k"],
                    task["horizon_days"], conn, task["torch_threads"])


class _PipeLog(logging.Handler):
    """Sends the child's log lines, stamped with their own time (the job reads them when it next
    waits for metrics), to the job, which logs them into its own log tail."""

    def __init__(self, conn: Connection):
        super().__init__(logging.INFO)
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
            self.conn.send((_LOG, record.levelno, f"[{stamp}] {record.getMessage()}"))
        except (OSError, ValueError):       # the job is gone: nothing to tell
            pass


def evaluate_models(url: str, models: list[tuple[str, dict]], k: int, horizon_days: int, conn: Connection,
                    torch_threads: int) -> None:
    """The evaluation process: every model's twin metrics, in order, sent down ``conn``."""
    _end_with_the_job(os.getppid())
    _set_torch_threads(torch_threads)
    root = logging.getLogger()
    root.addHandler(_PipeLog(conn))
    root.setLevel(logging.INFO)
    from kurrant_core.db import make_engine
    from kurrant_core.jobs.evaluate import RunEvaluator
    from kurrant_core.models import make_model

    engine = make_engine(url)
    evaluator = RunEvaluator(engine, k=k, horizon_days=horizon_days)
    name = "the holdout split"
    try:
        for name, params in models:
            conn.send((_METRICS, name, evaluator.twin_metrics(make_model(name, **params))))
    except Exception as exc:                 # noqa: BLE001 - every failure goes back to the job
        message = str(exc) if isinstance(exc, KurrantError) else f"{type(exc).__name__}: {exc}"
        log.error("evaluating %s failed:\n%s", name, traceback.format_exc())
        conn.send((_ERROR, name, message))
    finally:
        conn.send((_PEAK, "", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        conn.close()
        engine.dispose()


def _end_with_the_job(job_pid: int, every_s: float = 1.0) -> None:
    """Exit as soon as the job's process is gone (a SIGKILLed worker cannot end its children):
    its twins would be fitted for nobody."""
    def watch() -> None:
        while os.getppid() == job_pid:
            time.sleep(every_s)
        os._exit(1)
    threading.Thread(target=watch, name="watch-the-job", daemon=True).start()


# ------------------------------------------------------------------------------ cores
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # not Linux
        return os.cpu_count() or 1


def _split_cores(cores: int) -> tuple[int, int]:
    """Torch threads (evaluation process, job) when both run at once: half each, at least one."""
    child = max(1, cores // 2)
    return child, max(1, cores - child)


def _set_torch_threads(n: int) -> tuple[str | None, int | None]:
    """Make torch fits in this process run on ``n`` threads (the environment setting that
    ``torch_support`` reads when imported, and its ``TORCH_THREADS`` if it already is); what to
    hand ``_restore_torch_threads``."""
    before = os.environ.get(TORCH_THREADS_ENV)
    os.environ[TORCH_THREADS_ENV] = str(n)
    support = sys.modules.get("kurrant_core.models.torch_support")
    previous = None
    if support is not None:
        previous, support.TORCH_THREADS = support.TORCH_THREADS, n
    return before, previous


def _restore_torch_threads(saved: tuple[str | None, int | None]) -> None:
    before, previous = saved
    if before is None:
        os.environ.pop(TORCH_THREADS_ENV, None)
    else:
        os.environ[TORCH_THREADS_ENV] = before
    support = sys.modules.get("kurrant_core.models.torch_support")
    if support is not None:      # imported during the job: what it would have chosen on its own
        support.TORCH_THREADS = previous if previous is not None else support.free_cores()
