"""Rollups of the order-item mart: the same item measures, pre-aggregated to a coarser grain.

The order EDA page asks the same questions of hundreds of thousands of item rows on every view;
most of its figures only need sums per menu food (``mart_menu_orders``) or per spot's meal
(``mart_slot_orders``), 10-20x fewer rows. One SELECT per rollup defines it; preprocess stores
its result, and the EDA page runs the very same SELECT on the fly (restricted by the page's
filter) when the filter cuts finer than the stored grain, so both paths give identical figures.

Measures come in a paid and an all-statuses variant, so "paid only" is a choice of column.
"Orders" of a meal are its distinct order ids; summed over meals they count an order once per
service date and dining type it delivers on (a multi-day order counts on each of its days).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, day_counts, schema as S
from kurrant_core.db import insert_frame
from kurrant_core.sql_dates import days_between

MOI = S.mart_order_item
MEAL_KEY = (C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.SPOT_ID)
"""One spot's meal: the grain of ``mart_slot_orders``, where orders are counted as distinct ids."""
ACTIVITY_KEY = (C.USER_ID, C.GROUP_ID, C.SPOT_ID, C.DINING_TYPE)
"""The grain of ``mart_user_activity``: a user at one spot's meal type."""
CHANGED_KEY = (C.USER_ID, C.FOOD_ID)
"""Columns of the ``changed`` table :func:`refresh_rollups` takes: the (user, food) pairs whose items changed."""
_PREVIOUS = "previous_paid_date"
_DAY = "day"


def _item_measures(t: sa.FromClause) -> list[sa.Label]:
    """The item measures of :data:`schema.ROLLUP_ITEM_MEASURES`, in that order, over item rows ``t``."""
    paid, count, score = t.c[C.IS_PAID] == sa.true(), t.c[C.COUNT], t.c[C.SATISFACTION]

    def total(value: sa.ColumnElement, when: sa.ColumnElement | None = None) -> sa.ColumnElement:
        value = value if when is None else sa.case((when, value), else_=0)
        return sa.func.coalesce(sa.func.sum(value), 0)

    return [total(count).label(C.N_ITEMS),
            total(count, paid).label(C.N_ITEMS_PAID),
            total(count, t.c[C.IS_CANCELLED] == sa.true()).label(C.N_CANCELLED),
            total(t.c[C.PRICE], paid).label(C.REVENUE),
            total(score).label(C.SATISFACTION_SUM),
            sa.func.count(score).label(C.N_REVIEWS),
            total(score, paid).label(C.SATISFACTION_SUM_PAID),
            total(sa.case((sa.and_(paid, score.is_not(None)), 1), else_=0)).label(C.N_REVIEWS_PAID)]


def unit_price(t: sa.FromClause = MOI) -> sa.ColumnElement:
    """Unit price of an item row: its line total over its count."""
    return sa.func.coalesce(t.c[C.PRICE] // sa.func.nullif(t.c[C.COUNT], 0), 0)


def menu_orders_select(where: sa.ColumnElement[bool] | None = None, items: sa.Table = MOI) -> sa.Select:
    """Rows of ``mart_menu_orders``: item measures per daily-menu food and unit price."""
    keys = [items.c[c] for c in (C.DAILY_FOOD_ID,)]
    price = unit_price(items)
    dims = [items.c[c] for c in (C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID, C.MAKERS_ID,
                                 C.CUISINE_CODE)]
    stmt = sa.select(*keys, price.label(C.UNIT_PRICE), *dims, *_item_measures(items))
    if where is not None:
        stmt = stmt.where(where)
    return stmt.group_by(*keys, price, *dims)


def slot_orders_select(where: sa.ColumnElement[bool] | None = None, items: sa.Table = MOI,
                       by: Sequence[str] = ()) -> sa.Select:
    """Rows of ``mart_slot_orders``: distinct orders and users, and item measures, per spot's meal
    (and per value of the columns ``by``)."""
    keys = [items.c[c] for c in (*MEAL_KEY, *by)]
    paid = items.c[C.IS_PAID] == sa.true()

    def distinct(name: str, only_paid: bool) -> sa.ColumnElement:
        value = sa.case((paid, items.c[name])) if only_paid else items.c[name]
        return sa.func.count(sa.distinct(value))

    stmt = sa.select(*keys,
                     distinct(C.ORDER_ID, False).label(C.N_ORDERS), distinct(C.ORDER_ID, True).label(C.N_ORDERS_PAID),
                     distinct(C.USER_ID, False).label(C.N_USERS), distinct(C.USER_ID, True).label(C.N_USERS_PAID),
                     *_item_measures(items))
    if where is not None:
        stmt = stmt.where(where)
    return stmt.group_by(*keys)



def repeat_gap_select(items: sa.Table = MOI, where: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """Each item's days since its user's previous paid item of the same food (ordered by date, then
    item id; NULL when none), from one window pass over the item mart (``where`` must keep whole
    (user, food) histories)."""
    day = items.c[C.SERVICE_DATE]
    previous = sa.func.max(sa.case((items.c[C.IS_PAID] == sa.true(), day))).over(
        partition_by=[items.c[C.USER_ID], items.c[C.FOOD_ID]], order_by=[day, items.c[C.ORDER_ITEM_ID]],
        rows=(None, -1))
    rows = sa.select(items.c[C.ORDER_ITEM_ID], day, previous.label(_PREVIOUS))
    rows = (rows if where is None else rows.where(where)).subquery()
    return sa.select(rows.c[C.ORDER_ITEM_ID],
                     days_between(rows.c[C.SERVICE_DATE], rows.c[_PREVIOUS]).label(C.DAYS_BETWEEN))


def drop_temporary(conn: sa.Connection, name: str) -> str:
    """SQL dropping a TEMPORARY table (a plain DROP TABLE commits the transaction on MySQL)."""
    return (f"DROP TABLE IF EXISTS temp.{name}" if conn.dialect.name == "sqlite"
            else f"DROP TEMPORARY TABLE IF EXISTS {name}")


def temporary_table(conn: sa.Connection, name: str, *columns: sa.Column) -> sa.Table:
    """A fresh TEMPORARY table, private to ``conn``: creating one does not commit the caller's
    transaction on MySQL (an incremental patch stays one transaction). Drop it with
    :func:`drop_temporary`; MySQL lets a statement name it only once."""
    table = sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    conn.exec_driver_sql(drop_temporary(conn, name))
    table.create(conn)
    return table


def fill_item_slim(conn: sa.Connection, target: sa.Table, items: sa.Table = MOI,
                   changed: sa.Table | None = None) -> None:
    """Fill ``mart_item_slim``: the window's gaps go to a temporary table first, then join the items
    in key order. Item ids follow ordering time, so that order nearly follows the target's date
    clustering; inserting straight from the window (rows by user and food) scatters writes over a
    table larger than MySQL's default buffer pool and runs 5x longer."""
    gaps = temporary_table(conn, "kl_repeat_gaps",
                           sa.Column(C.ORDER_ITEM_ID, S.Id, primary_key=True, autoincrement=False),
                           sa.Column(C.DAYS_BETWEEN, sa.Integer))
    drop = drop_temporary(conn, gaps.name)
    try:
        gap_rows = repeat_gap_select(items, None if changed is None else _listed(items, changed, CHANGED_KEY))
        conn.execute(gaps.insert().from_select([C.ORDER_ITEM_ID, C.DAYS_BETWEEN], gap_rows))
        copied = [items.c[c.name] for c in S.mart_item_slim.columns if c.name != C.DAYS_BETWEEN]
        stmt = (sa.select(*copied, gaps.c[C.DAYS_BETWEEN])
                .select_from(items.join(gaps, gaps.c[C.ORDER_ITEM_ID] == items.c[C.ORDER_ITEM_ID]))
                .order_by(items.c[C.ORDER_ITEM_ID]))
        conn.execute(target.insert().from_select([c.name for c in S.mart_item_slim.columns], stmt))
    finally:
        conn.exec_driver_sql(drop)


def _listed(table: sa.Table, listed: sa.Table, key: Sequence[str]) -> sa.ColumnElement[bool]:
    """``table``'s rows whose ``key`` appears in ``listed``."""
    return sa.tuple_(*[table.c[c] for c in key]).in_(sa.select(*[listed.c[c] for c in key]))


def _delete_listed(conn: sa.Connection, table: sa.Table, listed: sa.Table, key: Sequence[str]) -> sa.Delete:
    """DELETE the rows of ``table`` whose ``key`` appears in ``listed``. MySQL gets a joined DELETE:
    MariaDB before 11.1 runs ``IN (subquery)`` of a DELETE once per row of the table."""
    if conn.dialect.name == "sqlite":
        return table.delete().where(_listed(table, listed, key))
    return table.delete().where(*[table.c[c] == listed.c[c] for c in key])


def _same_first_day(conn: sa.Connection) -> bool:
    stored = conn.execute(sa.select(S.mart_user_activity.c[C.FIRST_DAY]).limit(1)).scalar()
    first = conn.execute(sa.select(sa.func.min(MOI.c[C.SERVICE_DATE]))).scalar()
    return stored is not None and first is not None and pd.Timestamp(stored) == pd.Timestamp(first)


def fill_activity(conn: sa.Connection, target: sa.Table, items: sa.Table = MOI,
                  changed: sa.Table | None = None) -> None:
    """Fill ``mart_user_activity`` or ``mart_user_days`` - whichever ``target`` is; its key says the
    grain - for the users in ``changed`` only, when given: the day-count strings (see
    :mod:`kurrant_core.day_counts`) from the items' first date up to the row's last day with items,
    the row's peak day count and its user's cohort week. The database sums each row's items per
    day and lists them (GROUP_CONCAT: one short text per row rather than a row per item through the
    driver); numpy lays out the strings."""
    first = conn.execute(sa.select(sa.func.min(items.c[C.SERVICE_DATE]))).scalar()
    if first is None:
        return
    first = pd.Timestamp(first).date()
    key = [c.name for c in target.primary_key.columns]
    day = days_between(items.c[C.SERVICE_DATE], sa.literal(first, sa.Date)).label(_DAY)
    count = items.c[C.COUNT]
    per_day = sa.select(*[items.c[c] for c in key], day, sa.func.sum(count).label(C.N_ITEMS),
                        sa.func.sum(sa.case((items.c[C.IS_PAID] == sa.true(), count), else_=0)).label(C.N_ITEMS_PAID))
    if changed is not None:
        per_day = per_day.where(items.c[C.USER_ID].in_(sa.select(changed.c[C.USER_ID])))
    per_day = per_day.group_by(*[items.c[c] for c in key], day).subquery()
    as_text = [sa.cast(per_day.c[c], sa.String) for c in (_DAY, C.N_ITEMS, C.N_ITEMS_PAID)]
    listed = sa.func.group_concat(as_text[0] + ":" + as_text[1] + ":" + as_text[2])
    if conn.dialect.name != "sqlite":   # MySQL 8 cuts GROUP_CONCAT at 1,024 bytes by default
        conn.exec_driver_sql("SET SESSION group_concat_max_len = 67108864")
    rows = conn.execute(sa.select(*[per_day.c[c] for c in key], listed).group_by(*[per_day.c[c] for c in key])).all()
    if not rows:
        return
    triples = [np.array(r[-1].replace(":", ",").split(","), dtype=np.int64).reshape(-1, 3) for r in rows]
    days = [t[:, 0] for t in triples]
    width = max(int(d.max()) for d in days) + 1
    frame = pd.DataFrame([r[:len(key)] for r in rows], columns=key)
    frame[C.FIRST_DAY] = first
    frame[C.DAY_ITEMS] = day_counts.encode(days, [t[:, 1] for t in triples], width)
    frame[C.DAY_ITEMS_PAID] = day_counts.encode(days, [t[:, 2] for t in triples], width)
    frame[C.PEAK_DAY_ITEMS] = [int(t[:, 1].max()) for t in triples]
    first_paid = pd.Series([t[t[:, 2] > 0, 0].min(initial=width) for t in triples], index=frame.index)
    first_paid = first_paid.where(first_paid < width).groupby(frame[C.USER_ID]).transform("min")   # over all groups
    paid_day = pd.Timestamp(first) + pd.to_timedelta(first_paid, unit="D")
    frame[C.COHORT_WEEK] = (paid_day - pd.to_timedelta(paid_day.dt.weekday, unit="D")).dt.date
    insert_frame(conn, target, frame)


def slot_cuisine_orders_select(where: sa.ColumnElement[bool] | None = None, items: sa.Table = MOI) -> sa.Select:
    """Rows of ``mart_slot_cuisine_orders``: :func:`slot_orders_select` per cuisine as well."""
    tagged = items.c[C.CUISINE_CODE].is_not(None)
    return slot_orders_select(tagged if where is None else sa.and_(where, tagged), items, by=[C.CUISINE_CODE])


_SELECTS = {S.mart_menu_orders.name: menu_orders_select, S.mart_slot_orders.name: slot_orders_select,
            S.mart_slot_cuisine_orders.name: slot_cuisine_orders_select}
_BUILDERS = {S.mart_user_activity.name: fill_activity, S.mart_user_days.name: fill_activity,
             S.mart_item_slim.name: fill_item_slim}
"""Rollups built by code rather than one SELECT; their rows depend on every earlier day, so they
are redone whole, or for the listed users / (user, food) pairs - never from a date on."""


def fill_rollups(conn: sa.Connection, targets: dict[str, sa.Table], items: sa.Table = MOI,
                 since: date | None = None, changed: sa.Table | None = None) -> None:
    """Fill each rollup ``targets[name]`` from the item rows ``items``: the SQL rollups from ``since``
    on, the history-dependent ones for the (user, food) pairs listed in ``changed`` (default: all)."""
    where = items.c[C.SERVICE_DATE] >= since if since is not None else None
    for name, target in targets.items():
        if name in _BUILDERS:
            _BUILDERS[name](conn, target, items, changed)
            continue
        stmt = _SELECTS[name](where, items)
        conn.execute(target.insert().from_select([c.name for c in stmt.selected_columns], stmt))


def refresh_rollups(conn: sa.Connection, since: date | None = None, changed: sa.Table | None = None) -> None:
    """Recompute the stored rollups after the item mart changed: everywhere (``since`` None), or
    from ``since`` on and, for the day counts and repeat gaps, only the users and (user, food)
    pairs in ``changed`` (a table of :data:`CHANGED_KEY` rows; each one's whole history is redone)."""
    activity, slim = S.mart_user_activity, S.mart_item_slim
    if changed is not None and not _same_first_day(conn):
        changed = None                                   # earlier days arrived: the strings shift
    for table in S.ROLLUP_TABLES:
        if since is None or (changed is None and table.name in _BUILDERS):
            conn.execute(table.delete())
        elif table is activity or table is S.mart_user_days:
            conn.execute(_delete_listed(conn, table, changed, [C.USER_ID]))
        elif table is slim:
            conn.execute(_delete_listed(conn, table, changed, CHANGED_KEY))
        else:
            conn.execute(table.delete().where(table.c[C.SERVICE_DATE] >= since))
    fill_rollups(conn, {t.name: t for t in S.ROLLUP_TABLES}, since=since, changed=changed)
