"""What changed in the raw mirror since the marts were built: the incremental preprocess's evidence.

When preprocess builds the marts it records, for every raw table the order-item and menu marts are
joined from, a small fingerprint: the row count, the sum and the largest of its ids, and its
largest ``updated_date_time``. Next time, a patch is allowed only when the raw mirror merely grew
or was updated in place the way a sync does it:

- new rows have ids above the recorded largest id; updated rows have an ``updated_date_time`` at or
  after the recorded one. Those rows, and every order item that joins to one of them, are patched.
- anything else - a row deleted, a whole table replaced (`demo-data` again), an id reused, an
  ``updated_date_time`` that went back (a restored backup) - changes the count or the id sum of the
  rows up to the recorded largest id, or lowers the largest time, and forces a full rebuild.

The fingerprint costs one aggregate per table (an index scan), seconds on millions of rows, against
minutes for a rebuild. Tables that only the small marts read (users, groups, spots, makers) need no
fingerprint: those marts are rebuilt whole on every patch.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from kurrant_core import schema as S
from kurrant_core.db import write_meta

META_PREFIX = "raw_state:"
"""de_meta key prefix of each table's fingerprint (``raw_state:order__order_item``)."""
UPDATED = "updated_date_time"

CHECKED_TABLES: tuple[sa.Table, ...] = (
    S.food, S.daily_food, S.order, S.order_daily_food, S.order_item, S.order_item_dailyfood,
    S.order_item_dailyfood_group, S.review)
"""Raw tables the order-item, menu and food marts are joined from (patched, not rebuilt whole)."""


@dataclass(frozen=True)
class TableState:
    """One raw table's fingerprint when the marts were built."""

    rows: int
    id_sum: int
    max_id: int
    max_updated: datetime | None

    def encode(self) -> str:
        updated = self.max_updated.isoformat() if self.max_updated else ""
        return f"{self.rows},{self.id_sum},{self.max_id},{updated}"

    @classmethod
    def decode(cls, text: str) -> TableState:
        rows, id_sum, max_id, updated = text.split(",", 3)
        return cls(int(rows), int(id_sum), int(max_id), datetime.fromisoformat(updated) if updated else None)


RawState = dict[str, TableState]


def _updated(table: sa.Table) -> sa.Column | None:
    return table.c.get(UPDATED)


def _as_datetime(value) -> datetime | None:
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def read_raw_state(conn: sa.Connection) -> RawState:
    """The raw tables' fingerprints now (take it before a build, store it after)."""
    state: RawState = {}
    for table in CHECKED_TABLES:
        updated = _updated(table)
        cols = [sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.id), 0),
                sa.func.coalesce(sa.func.max(table.c.id), 0)]
        rows, id_sum, max_id = conn.execute(sa.select(*cols)).one()
        latest = conn.execute(sa.select(sa.func.max(updated))).scalar() if updated is not None else None
        state[table.name] = TableState(int(rows), int(id_sum), int(max_id), _as_datetime(latest))
    return state


def store_raw_state(conn: sa.Connection, state: RawState) -> None:
    for name, table_state in state.items():
        write_meta(conn, META_PREFIX + name, table_state.encode())


def forget_raw_state(conn: sa.Connection) -> None:
    """Drop the fingerprints: the next preprocess rebuilds every mart (after the raw mirror was
    replaced or rewritten in place, e.g. by `demo-data` or `sync --full`)."""
    conn.execute(S.de_meta.delete().where(S.de_meta.c.key.like(META_PREFIX + "%")))


def stored_raw_state(conn: sa.Connection) -> RawState | None:
    """The fingerprints of the last build, or None when any is missing (never built, older version)."""
    rows = dict(conn.execute(sa.select(S.de_meta.c.key, S.de_meta.c.value)
                             .where(S.de_meta.c.key.like(META_PREFIX + "%"))).all())
    try:
        state = {t.name: TableState.decode(rows[META_PREFIX + t.name]) for t in CHECKED_TABLES}
    except (KeyError, ValueError):
        return None
    return state


def why_not_patchable(conn: sa.Connection, stored: RawState) -> str | None:
    """Why the raw mirror changed in a way a patch cannot follow, or None when it only grew or was
    updated (rows deleted or replaced below the last largest id, or a time that went back)."""
    for table in CHECKED_TABLES:
        was = stored[table.name]
        rows, id_sum = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.id), 0))
                                    .where(table.c.id <= was.max_id)).one()
        if (int(rows), int(id_sum)) != (was.rows, was.id_sum):
            return (f"{table.name}: rows deleted or replaced ({was.rows:,} rows up to id {was.max_id} before, "
                    f"{rows:,} now)")
        updated = _updated(table)
        if updated is not None and was.max_updated is not None:
            latest = _as_datetime(conn.execute(sa.select(sa.func.max(updated))).scalar())
            if latest is None or latest < was.max_updated:
                return f"{table.name}: its latest {UPDATED} went back from {was.max_updated} to {latest}"
    return None


def changed_rows(table: sa.Table, stored: RawState) -> sa.Select:
    """Ids of ``table``'s rows added or updated since the build ``stored`` describes."""
    was = stored[table.name]
    changed = table.c.id > was.max_id
    updated = _updated(table)
    if updated is not None and was.max_updated is not None:
        changed = sa.or_(changed, updated >= was.max_updated)
    return sa.select(table.c.id).where(changed)


def changed_menu_rows(stored: RawState) -> sa.Select:
    """Ids of daily-menu rows to rebuild: changed themselves, or serving a changed food."""
    df = S.daily_food
    return sa.union(changed_rows(df, stored),
                    sa.select(df.c.id).where(df.c.food_id.in_(changed_rows(S.food, stored))))


def changed_items(stored: RawState) -> sa.CompoundSelect:
    """Ids of order items (``order__order_item_dailyfood.id``) whose mart row may differ: the item,
    its review, menu line, food, meal group or order was added or updated. One plain ``IN`` per
    part (MariaDB runs an ``IN (... UNION ...)`` again for every row of the outer table)."""
    oidf, oi, r, df = S.order_item_dailyfood, S.order_item, S.review, S.daily_food
    return sa.union(
        changed_rows(oidf, stored),
        changed_rows(oi, stored),
        sa.select(r.c.order_item_id).where(r.c.id.in_(changed_rows(r, stored))),
        sa.select(oi.c.id).where(oi.c.order_id.in_(changed_rows(S.order, stored))),
        sa.select(oi.c.id).where(oi.c.order_id.in_(changed_rows(S.order_daily_food, stored))),
        sa.select(oidf.c.id).where(oidf.c.order_item_daily_food_group_id.in_(
            changed_rows(S.order_item_dailyfood_group, stored))),
        sa.select(oidf.c.id).where(oidf.c.daily_food_id.in_(changed_rows(df, stored))),
        sa.select(oidf.c.id).where(oidf.c.daily_food_id.in_(
            sa.select(df.c.id).where(df.c.food_id.in_(changed_rows(S.food, stored))))))
