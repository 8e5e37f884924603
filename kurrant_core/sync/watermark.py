"""Where each table's sync stopped, kept in the DE database beside the rows it describes.

A watermark is the (updated time, key) of the last copied row, or just the key for tables without
an updated time. It is written in the same transaction as the batch it closes, so the DE rows and
the watermark can never disagree, whatever kills the sync.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from kurrant_core import schema
from kurrant_core.sync.plan import TableSpec
from kurrant_core.sync.upsert import upsert

_SEPARATOR = "|"


@dataclass(frozen=True)
class Watermark:
    """The last copied row's position in (updated, key) order; ``updated`` is None for key-only tables."""

    updated: datetime | None
    key: int

    def encode(self) -> str:
        if self.updated is None:
            return str(self.key)
        return f"{self.updated.isoformat(sep=' ')}{_SEPARATOR}{self.key}"

    @classmethod
    def decode(cls, value: str) -> Watermark:
        if _SEPARATOR not in value:
            return cls(None, int(value))
        updated, key = value.split(_SEPARATOR)
        return cls(datetime.fromisoformat(updated), int(key))

    @classmethod
    def of_row(cls, spec: TableSpec, row: sa.Row) -> Watermark:
        values = row._mapping
        updated = values[spec.updated.name] if spec.updated is not None else None
        return cls(updated, int(values[spec.key.name]))


def read_watermark(conn: sa.Connection, spec: TableSpec) -> Watermark | None:
    """The stored watermark, or None when the table was never synced (or its watermark shape changed)."""
    t = schema.sync_watermark
    row = conn.execute(sa.select(t.c.column_name, t.c.value).where(t.c.table_name == spec.name)).first()
    if row is None or row.column_name != spec.watermark_column:
        return None
    return Watermark.decode(row.value)


def write_watermark(conn: sa.Connection, spec: TableSpec, mark: Watermark) -> None:
    """Upsert the table's watermark inside the caller's (batch) transaction."""
    t = schema.sync_watermark
    now = datetime.now().replace(microsecond=0)
    upsert(conn, t, [{t.c.table_name.key: spec.name, t.c.column_name.key: spec.watermark_column,
                      t.c.value.key: mark.encode(), t.c.updated_at.key: now}])


def after(spec: TableSpec, mark: Watermark | None, *, resuming: bool) -> sa.ColumnElement[bool]:
    """Production rows past ``mark`` in keyset order.

    Within a run the order is strict: ``(updated, key) > mark``. When a run *resumes* from a stored
    watermark, every row sharing the watermark's updated time is read again (``updated >= mark``):
    a row updated within that same second after the last run, but with a smaller key, would
    otherwise be missed. Upserts make the re-read harmless.
    """
    if mark is None:
        return sa.true()
    if spec.updated is None:
        (key,) = spec.keyset
        return key > mark.key
    updated, key = spec.keyset
    if resuming:
        return updated >= mark.updated
    return sa.or_(updated > mark.updated, sa.and_(updated == mark.updated, key > mark.key))
