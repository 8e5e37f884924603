"""The copier: production rows past each table's watermark, in keyset chunks, upserted into the DE.

Gentle on production: one read-only connection, ``chunk_size`` rows per query walked by key (no
OFFSET), each read transaction ended at once (no long-lived snapshot), an optional pause between
chunks. Safe for the DE: each chunk lands in one transaction together with its watermark, so a sync
that dies at any point leaves the DE at its last committed chunk, and the next run resumes there.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from kurrant_core.sync.log import SYNC_FAILED, SYNC_OK, finish_log, start_log
from kurrant_core.sync.pii import hash_key, keyed_hash
from kurrant_core.sync.plan import SYNC_SPECS, TableSpec
from kurrant_core.sync.source import read_only_source
from kurrant_core.sync.upsert import upsert
from kurrant_core.sync.watermark import Watermark, after, read_watermark, write_watermark

log = logging.getLogger(__name__)

BatchHook = Callable[[str, int], None]
"""Called as ``hook(table_name, batch_number)`` inside each batch's DE transaction, just before
commit; raising there rolls the batch back (tests use it to kill a sync halfway)."""

DEFAULT_CHUNK_SIZE = 5000
DEFAULT_PAUSE_S = 0.1
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class SyncResult:
    """What one table's sync did."""

    table_name: str
    rows: int
    batches: int
    seconds: float
    watermark: str | None


def sync_tables(source_url: str, engine: sa.Engine, specs: Sequence[TableSpec] | None = None, *,
                chunk_size: int = DEFAULT_CHUNK_SIZE, pause_s: float = DEFAULT_PAUSE_S,
                timeout_s: float = DEFAULT_TIMEOUT_S, full: bool = False,
                on_batch: BatchHook | None = None) -> list[SyncResult]:
    """Copy ``specs`` (default: every raw mirror table) from ``source_url`` into the DE ``engine``.

    ``full`` ignores the watermarks and re-reads whole tables (still upserting): the way to pick up
    in-place changes in tables that have no updated time. The DE schema must exist (``init_db``).
    Stops at the first failing table, which is logged as failed; tables before it stay synced.
    """
    specs = list(SYNC_SPECS if specs is None else specs)
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    key = hash_key() if any(spec.hashed for spec in specs) else None   # refuse before reading
    with read_only_source(source_url, timeout_s) as source:
        return [_sync_table(source, engine, spec, key, chunk_size=chunk_size, pause_s=pause_s,
                            full=full, on_batch=on_batch) for spec in specs]


def _records(spec: TableSpec, rows: Sequence[sa.Row], key: bytes | None) -> list[dict]:
    records = [dict(row._mapping) for row in rows]
    for column in spec.hashed:
        for record in records:
            record[column] = keyed_hash(record[column], key)
    return records


def _sync_table(source: sa.Connection, engine: sa.Engine, spec: TableSpec, key: bytes | None, *,
                chunk_size: int, pause_s: float, full: bool, on_batch: BatchHook | None) -> SyncResult:
    log_id = start_log(engine, spec.name)
    started = time.perf_counter()
    rows = batches = 0
    try:
        with engine.connect() as conn:
            mark = None if full else read_watermark(conn, spec)
        resuming = mark is not None
        query = sa.select(*spec.select_columns()).order_by(*spec.keyset).limit(chunk_size)
        while True:
            batch = source.execute(query.where(after(spec, mark, resuming=resuming))).all()
            source.rollback()                         # end the read: no snapshot held on production
            if not batch:
                break
            mark, resuming = Watermark.of_row(spec, batch[-1]), False
            with engine.begin() as conn:
                upsert(conn, spec.table, _records(spec, batch, key))
                write_watermark(conn, spec, mark)
                if on_batch is not None:
                    on_batch(spec.name, batches + 1)
            rows, batches = rows + len(batch), batches + 1
            if batches % 20 == 0:
                log.info("%s: %d rows so far", spec.name, rows)
            if len(batch) < chunk_size:
                break
            if pause_s > 0:
                time.sleep(pause_s)
    except BaseException as exc:
        finish_log(engine, log_id, rows=rows, seconds=time.perf_counter() - started, status=SYNC_FAILED,
                   error=f"{type(exc).__name__}: {exc}")
        raise
    seconds = time.perf_counter() - started
    finish_log(engine, log_id, rows=rows, seconds=seconds, status=SYNC_OK)
    watermark = mark.encode() if mark is not None else None
    log.info("%-36s %9d rows %4d batches %7.2f s  watermark %s", spec.name, rows, batches, seconds,
             watermark or "-")
    return SyncResult(spec.name, rows, batches, seconds, watermark)
