"""Where a query reads item measures from: a stored rollup when the filter fits its grain, else the
same rollup computed on the fly from the item mart under the filter (see ``kurrant_core.rollups``).

``mart_menu_orders`` has no spot (a menu food's items are summed over spots) and
``mart_slot_orders`` no food, maker or cuisine (``mart_slot_cuisine_orders`` answers one cuisine:
distinct orders do not add up over several); a filter on those cuts finer than the stored rows,
so the rollup's own SELECT runs over the filtered items instead. Either way the query sees the same
columns, already filtered, and the measure helpers below pick the paid or all-statuses column.
"""
from __future__ import annotations

import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.rollups import MOI, menu_orders_select, slot_orders_select


def menu_orders(filt: OrderFilter) -> sa.Subquery:
    """Item measures per menu food and unit price, under ``filt`` (never empty of its columns)."""
    if filt.spot_ids:
        return menu_orders_select(_items_where(filt)).subquery("menu_orders")
    t = S.mart_menu_orders
    return sa.select(t).where(filt.where_clause(t)).subquery("menu_orders")


def slot_orders(filt: OrderFilter) -> sa.Subquery:
    """Orders, users and item measures per spot's meal (date x dining type), under ``filt``: from
    the meal rollup, its per-cuisine twin for one cuisine, else computed from the filtered items."""
    if filt.makers_ids or len(filt.cuisine_codes) > 1:
        return slot_orders_select(_items_where(filt)).subquery("slot_orders")
    t = S.mart_slot_cuisine_orders if filt.cuisine_codes else S.mart_slot_orders
    return sa.select(t).where(filt.where_clause(t)).subquery("slot_orders")


def _items_where(filt: OrderFilter) -> sa.ColumnElement[bool]:
    # paid and all-statuses measures are both computed; "paid only" picks its column afterwards
    return filt.replace(paid_only=False).where_clause(MOI)


# ------------------------------------------------------------------ measures over a rollup source
def _sum(src: sa.FromClause, name: str) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(src.c[name]), 0)


def items(src: sa.FromClause, filt: OrderFilter) -> sa.ColumnElement:
    """Dishes ordered (``SUM(count)``) of the items the filter counts."""
    return _sum(src, C.N_ITEMS_PAID if filt.paid_only else C.N_ITEMS)


def revenue(src: sa.FromClause) -> sa.ColumnElement:
    """Line totals of paid items (a cancelled item earns nothing, even under "all")."""
    return _sum(src, C.REVENUE)


def cancelled(src: sa.FromClause, filt: OrderFilter) -> sa.ColumnElement:
    """Cancelled items; none among paid items (the paid and cancelled statuses are disjoint)."""
    return sa.literal(0, sa.Integer) if filt.paid_only else _sum(src, C.N_CANCELLED)


def satisfaction_sum(src: sa.FromClause, filt: OrderFilter) -> sa.ColumnElement:
    return sa.func.sum(src.c[C.SATISFACTION_SUM_PAID if filt.paid_only else C.SATISFACTION_SUM])


def reviews(src: sa.FromClause, filt: OrderFilter) -> sa.ColumnElement:
    return _sum(src, C.N_REVIEWS_PAID if filt.paid_only else C.N_REVIEWS)


def orders(src: sa.FromClause, filt: OrderFilter) -> sa.ColumnElement:
    """Orders counted once per meal (service date x dining type) they deliver on; needs a slot source."""
    return _sum(src, C.N_ORDERS_PAID if filt.paid_only else C.N_ORDERS)
