"""The aggregates every EDA query shares, so that "items" or "revenue" mean one thing everywhere.

- items: dishes ordered, ``SUM(count)`` (an order-item row may carry count > 1);
- orders: distinct order ids; active users: distinct user ids;
- revenue: line totals of *paid* items only (a cancelled item earns nothing, even under "all");
- cancellation rate: cancelled items / items; satisfaction: mean review score (1-5) of reviewed rows.

Most figures read these measures pre-summed from the rollups (``kurrant_core.rollups`` defines them
over item rows, ``eda.sources`` picks the paid or all-statuses column); the helpers here count item
rows directly, for the queries that read the item marts.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S

MOI = S.mart_order_item
SATISFACTION_SUM = C.SATISFACTION_SUM   # intermediate, dropped before results leave the package


def n_items(t: sa.FromClause = MOI) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(t.c[C.COUNT]), 0)


def n_orders(t: sa.FromClause = MOI) -> sa.ColumnElement:
    return sa.func.count(sa.distinct(t.c[C.ORDER_ID]))


def n_users(t: sa.FromClause = MOI) -> sa.ColumnElement:
    return sa.func.count(sa.distinct(t.c[C.USER_ID]))


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add items per active user, cancellation rate and mean satisfaction to rows of items, users,
    cancelled items, satisfaction sum and reviews (ratios of integers, so both backends give the
    same floats)."""
    out = frame.copy()
    out[C.ITEMS_PER_USER] = ratio(out[C.N_ITEMS], out[C.N_USERS])
    out[C.CANCEL_RATE] = ratio(out[C.N_CANCELLED], out[C.N_ITEMS])
    return add_mean_satisfaction(out)


def add_mean_satisfaction(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace the satisfaction sum by the mean score over the reviewed items (a sum and a count,
    not AVG: MySQL's AVG of an integer column is a DECIMAL rounded to 4 places)."""
    out = frame.copy()
    out[C.AVG_SATISFACTION] = ratio(out[SATISFACTION_SUM], out[C.N_REVIEWS])
    return out.drop(columns=[SATISFACTION_SUM])


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` as floats, NaN where the denominator is zero (no rows, not infinity)."""
    den = den.astype(float)
    return num.astype(float) / den.where(den != 0)


def read_frame(engine: sa.Engine, stmt: sa.Select) -> pd.DataFrame:
    """Run one aggregate query. MySQL returns SUMs as DECIMAL (read as float); columns the
    statement types as integers come back as integers on both backends."""
    with engine.connect() as conn:
        frame = pd.read_sql(stmt, conn, coerce_float=True)
    for col in stmt.selected_columns:
        if col.name in frame and isinstance(col.type, sa.Integer) and frame[col.name].dtype.kind == "f":
            values = frame[col.name]
            frame[col.name] = values.astype("Int64" if values.isna().any() else "int64")
    return frame


def as_datetime(frame: pd.DataFrame, *names: str) -> pd.DataFrame:
    """Turn date columns (``date`` objects or ISO text, by backend) into datetime64 for plotting."""
    out = frame.copy()
    for name in names:
        out[name] = pd.to_datetime(out[name])
    return out
