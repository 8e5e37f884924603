"""The sync log (one row per table per run) and the status table the overview page shows."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.sync.plan import SYNC_SPECS

SYNC_RUNNING, SYNC_OK, SYNC_FAILED = "running", "ok", "failed"
SYNC_NEVER = "never"
"""Status shown for a table no sync has touched yet."""

_ERROR_CHARS = 2000


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def start_log(engine: sa.Engine, table_name: str) -> int:
    """Record that a table's sync started; returns the log row id. A killed run stays 'running'."""
    t = schema.sync_log
    with engine.begin() as conn:
        result = conn.execute(t.insert().values(table_name=table_name, started_at=_now(), rows=0,
                                                status=SYNC_RUNNING))
        return int(result.inserted_primary_key[0])


def finish_log(engine: sa.Engine, log_id: int, *, rows: int, seconds: float, status: str,
               error: str | None = None) -> None:
    t = schema.sync_log
    with engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == log_id).values(
            finished_at=_now(), rows=rows, seconds=round(seconds, 3), status=status,
            error=None if error is None else error[:_ERROR_CHARS]))


def sync_status(engine: sa.Engine) -> pd.DataFrame:
    """One row per raw mirror table: its watermark and its latest sync (status 'never' if none).

    Columns: ``C.SYNC_STATUS_COLUMNS``. A 'running' row whose run is over was killed mid-table;
    the next sync resumes it from the watermark.
    """
    log, mark = schema.sync_log, schema.sync_watermark
    latest = sa.select(sa.func.max(log.c.id).label(log.c.id.key)).group_by(log.c.table_name).subquery()
    with engine.connect() as conn:
        runs = {r.table_name: r for r in conn.execute(
            sa.select(log).join(latest, latest.c[log.c.id.key] == log.c.id))}
        marks = {r.table_name: r for r in conn.execute(sa.select(mark))}
    names = [spec.name for spec in SYNC_SPECS]
    names += sorted((set(runs) | set(marks)) - set(names))
    records = []
    for name in names:
        run, wm = runs.get(name), marks.get(name)
        records.append({
            C.TABLE_NAME: name,
            C.WATERMARK_COLUMN: wm.column_name if wm else None,
            C.WATERMARK: wm.value if wm else None,
            C.LAST_SYNC_STATUS: run.status if run else SYNC_NEVER,
            C.LAST_SYNC_ROWS: run.rows if run else 0,
            C.LAST_SYNC_SECONDS: run.seconds if run else None,
            C.LAST_SYNC_STARTED_AT: run.started_at if run else None,
            C.LAST_SYNC_FINISHED_AT: run.finished_at if run else None,
            C.LAST_SYNC_ERROR: run.error if run else None,
        })
    return pd.DataFrame.from_records(records, columns=C.SYNC_STATUS_COLUMNS)
