"""Will a retrain fit in this machine's memory? Asked before a job starts, not after it is killed.

The need grows with the DE's paid order items (the training data, the models' matrices and the
written lists all scale with them): ``BASE_MB`` plus ``BYTES_PER_ORDER_ITEM`` each, from the
benchmarks: with the large world's 3.84 M items a full retrain job with evaluation
(``bench/bench_retrain.py --large``: every model in one worker) peaked at 14.0 GB; alone
(``bench/bench_models.py --large``) hybrid peaked at 7.8 GB -- its choice model's training
features -- sequential at 4.4 GB, NCF at 2.6 GB, the others at 2.2 GB. What is free is the kernel's
``MemAvailable``; where the machine does not say (no ``/proc/meminfo``), the job is let through.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kurrant_core import schema as S
from kurrant_core.errors import KurrantError

BASE_MB = 800.0
"""Interpreter, libraries (torch, pandas, scikit-learn) and a model's fixed share."""
BYTES_PER_ORDER_ITEM = 3_500.0
"""Peak bytes per paid order item across the models (training data, exposures, fit, lists)."""
MEMINFO = Path("/proc/meminfo")


BOTH_PROCESSES_FACTOR = 1.25
"""The need of a job whose evaluation runs in a second process (``jobs.evaluation_process``), as a
multiple of one process's: on the large world the job peaked at 8.6 GB and the evaluation process
at 8.0 GB (both at hybrid), 16.6 GB together against 14.0 GB for the two halves in one process."""


def needed_mb(n_order_items: int, *, both: bool = False) -> float:
    """Megabytes a retrain of a DE with ``n_order_items`` paid order items needs at its peak
    (``both``: with its evaluation in a second process)."""
    one = BASE_MB + BYTES_PER_ORDER_ITEM * n_order_items / 1e6
    return one * BOTH_PROCESSES_FACTOR if both else one


def available_mb(meminfo: Path = MEMINFO) -> float | None:
    """The kernel's estimate of memory available to a new process, in MB (None: unknown)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def order_items(engine: sa.Engine) -> int:
    """Rows of the order-item mart (what the training data is built from)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(S.mart_order_item)).scalar() or 0)


def check_memory(engine: sa.Engine, *, free_mb: float | None = None, both: bool = False) -> None:
    """Refuse (KurrantError) when the machine has less memory available than a retrain needs
    (``both``: one whose evaluation must run in a second process)."""
    free = available_mb() if free_mb is None else free_mb
    if free is None:
        return
    need = needed_mb(order_items(engine), both=both)
    if free < need:
        raise KurrantError(
            f"This machine has {free:,.0f} MB of memory available, and a retrain of this DE "
            f"database needs about {need:,.0f} MB. Close other programs, or run the retrain on a "
            "larger machine.", key="err.memory", free=f"{free:,.0f}", need=f"{need:,.0f}")
