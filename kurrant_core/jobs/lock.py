"""The one-retrain-at-a-time lock: a single ``rec_lock`` row named ``retrain`` in the DE database.

Taking it is one conditional ``UPDATE ... WHERE job_id IS NULL`` whose row count says who won, so
two people pressing the button together (two threads, two processes, two hosts) can never both
get it, on SQLite (writers are serialised) and on MariaDB (the row lock makes the second UPDATE
re-read the committed row). Holding it means beating: the worker refreshes ``heartbeat_at``
every few seconds; a holder that stops beating, or whose process is gone, may be recovered.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from kurrant_core import columns as C, config, schema

RETRAIN = "retrain"
DEFAULT_STALE_AFTER_S = 60.0
"""A holder silent for longer than this (``KURRANT_JOB_STALE_AFTER_S``) is presumed dead."""

_lock = schema.rec_lock


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock: the job, its worker process (once started) and its last beat."""

    job_id: int
    pid: int | None
    host: str | None
    acquired_at: datetime | None
    heartbeat_at: datetime | None


def now() -> datetime:
    """Whole seconds: MariaDB's DATETIME drops fractions, so compare like with like."""
    return datetime.now().replace(microsecond=0)


def this_host() -> str:
    return socket.gethostname()[:100]


def stale_after_s() -> float:
    return float(config.setting("job_stale_after_s", str(DEFAULT_STALE_AFTER_S)))


def ensure_lock_row(engine: sa.Engine, name: str = RETRAIN) -> None:
    """Create the (free) lock row once; a concurrent creator winning the race is fine."""
    with engine.connect() as conn:
        exists = conn.execute(sa.select(_lock.c.name).where(_lock.c.name == name)).first()
    if exists:
        return
    try:
        with engine.begin() as conn:
            conn.execute(_lock.insert().values(name=name, job_id=None))
    except sa.exc.IntegrityError:
        pass


def try_acquire(conn: sa.Connection, job_id: int, name: str = RETRAIN) -> bool:
    """Take the free lock for ``job_id`` inside the caller's transaction; False when it is held."""
    stamp = now()
    taken = conn.execute(
        _lock.update().where(_lock.c.name == name, _lock.c[C.JOB_ID].is_(None))
        .values({C.JOB_ID: job_id, _lock.c.pid.name: None, _lock.c.host.name: None,
                 _lock.c.acquired_at.name: stamp, _lock.c.heartbeat_at.name: stamp}))
    return taken.rowcount == 1


def take_over(engine: sa.Engine, job_id: int, pid: int, host: str, name: str = RETRAIN) -> bool:
    """The worker announces itself as the holder; False when its job no longer holds the lock."""
    with engine.begin() as conn:
        done = conn.execute(_lock.update().where(_lock.c.name == name, _lock.c[C.JOB_ID] == job_id)
                            .values(pid=pid, host=host, heartbeat_at=now()))
    return done.rowcount == 1


def beat(conn: sa.Connection, job_id: int, stamp: datetime, name: str = RETRAIN) -> bool:
    """Refresh the holder's heartbeat; False when ``job_id`` lost the lock (it was recovered)."""
    done = conn.execute(_lock.update().where(_lock.c.name == name, _lock.c[C.JOB_ID] == job_id)
                        .values(heartbeat_at=stamp))
    return done.rowcount == 1


def release(conn: sa.Connection, job_id: int, *, heartbeat_at: datetime | None = None,
            name: str = RETRAIN) -> bool:
    """Free the lock if ``job_id`` holds it (and, for recovery, has not beaten since
    ``heartbeat_at``, so a holder that just woke up is not robbed); True when freed here."""
    where = [_lock.c.name == name, _lock.c[C.JOB_ID] == job_id]
    if heartbeat_at is not None:
        where.append(_lock.c.heartbeat_at == heartbeat_at)
    done = conn.execute(_lock.update().where(*where).values(
        {C.JOB_ID: None, _lock.c.pid.name: None, _lock.c.host.name: None,
         _lock.c.acquired_at.name: None, _lock.c.heartbeat_at.name: None}))
    return done.rowcount == 1


def holder(engine: sa.Engine, name: str = RETRAIN) -> LockHolder | None:
    """The current holder, or None when the lock is free."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_lock).where(_lock.c.name == name)).mappings().first()
    if row is None or row[_lock.c[C.JOB_ID]] is None:
        return None
    return LockHolder(int(row[_lock.c[C.JOB_ID]]), row[_lock.c.pid], row[_lock.c.host],
                      row[_lock.c.acquired_at], row[_lock.c.heartbeat_at])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie (a killed child that its
    parent has not reaped yet still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def why_stale(held: LockHolder, *, at: datetime | None = None,
              stale_after: float | None = None) -> str | None:
    """Why the holder is presumed dead (its process is gone here, or it stopped beating), or None
    while it looks alive."""
    if held.pid is not None and held.host == this_host() and not pid_alive(held.pid):
        return f"its worker process {held.pid} on {held.host} is gone"
    limit = timedelta(seconds=stale_after if stale_after is not None else stale_after_s())
    last = held.heartbeat_at or held.acquired_at
    if last is None or (at or now()) - last > limit:
        return f"no heartbeat since {last} (more than {limit.total_seconds():.0f} s)"
    return None
