"""Names for the ids an aggregate groups by, joined on *after* aggregating.

Aggregating the filtered order items first and joining the few result rows to their names keeps
both SQLite and MariaDB on the date index; joining names first lets a planner drive the query
from the name table and read every order item through the id index.
"""
from __future__ import annotations

import sqlalchemy as sa

from kurrant_core import columns as C, schema as S


def food_names() -> sa.FromClause:
    """food id -> food name and maker name (one row per food)."""
    food = S.mart_food
    return sa.select(food.c[C.FOOD_ID], food.c[C.FOOD_NAME], food.c[C.MAKERS_NAME]).subquery()


def maker_names() -> sa.FromClause:
    """makers id -> maker name, from the foods (the marts have no maker table)."""
    food = S.mart_food
    return (sa.select(food.c[C.MAKERS_ID], sa.func.max(food.c[C.MAKERS_NAME]).label(C.MAKERS_NAME))
            .group_by(food.c[C.MAKERS_ID]).subquery())


def group_names() -> sa.FromClause:
    """group id -> name, from the users' memberships (the marts have no group table)."""
    user = S.mart_user
    return (sa.select(user.c[C.GROUP_ID], sa.func.max(user.c[C.GROUP_NAME]).label(C.GROUP_NAME))
            .where(user.c[C.GROUP_ID].is_not(None)).group_by(user.c[C.GROUP_ID]).subquery())


def with_names(aggregate: sa.Select, key: str, names: sa.FromClause) -> tuple[sa.Select, sa.Subquery]:
    """``aggregate`` (grouped by ``key``) with the name columns of ``names`` after its key.

    Returns the statement and the aggregate as a subquery, whose columns the caller orders by
    (a subquery's own ORDER BY is not guaranteed to survive the join).
    """
    agg = aggregate.subquery()
    name_cols = [c for c in names.c if c.name != key]
    stmt = (sa.select(agg.c[key], *name_cols, *[c for c in agg.c if c.name != key])
            .select_from(agg.outerjoin(names, names.c[key] == agg.c[key])))
    return stmt, agg
