"""Are the shipped lists as varied as the users' own histories? Cuisines per list vs per history.

The non-convergence rule asks that a user's list reflect their taste without collapsing onto one
corner of it: a user whose orders span six cuisines should not get a top-10 of one. Both sides are
measured the same way: the number of distinct cuisines, and the share of the most frequent one.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.metrics import N_CATEGORIES, TOP_SHARE, category_spread

N_CUISINES = N_CATEGORIES
TOP_CUISINE_SHARE = TOP_SHARE


def cuisine_spread(frame: pd.DataFrame, weight: str | None = None) -> pd.DataFrame:
    """Per user: N_CUISINES (distinct cuisines) and TOP_CUISINE_SHARE (the largest cuisine's share
    of the rows, or of ``weight``) of ``frame`` (USER_ID, CUISINE_CODE; rows without a cuisine are
    left out), measured as ``metrics.category_spread`` measures a list."""
    return category_spread(frame.dropna(subset=[C.CUISINE_CODE]), [C.USER_ID], C.CUISINE_CODE, weight)


def spread_summary(spread: pd.DataFrame) -> dict[str, float]:
    """Median cuisines, median top-cuisine share, and the share of single-cuisine users."""
    if spread.empty:
        return {"median_cuisines": float("nan"), "median_top_share": float("nan"), "single_cuisine": float("nan")}
    return {"median_cuisines": float(spread[N_CUISINES].median()),
            "median_top_share": round(float(spread[TOP_CUISINE_SHARE].median()), 4),
            "single_cuisine": round(float((spread[N_CUISINES] == 1).mean()), 4)}


def run_catalog_spread(engine: sa.Engine, run_id: int) -> pd.DataFrame:
    """Per user of a run's catalog lists (the date-free rows, as shipped): the cuisine spread."""
    r, f = S.rec_user_recommend.c, S.mart_food.c
    query = (sa.select(r[C.USER_ID], f[C.CUISINE_CODE]).join(S.mart_food, f[C.FOOD_ID] == r[C.FOOD_ID])
             .where(r[C.RUN_ID] == int(run_id), r[C.SERVICE_DATE].is_(None)))
    with engine.connect() as conn:
        return cuisine_spread(pd.read_sql(query, conn))


def history_spread(engine: sa.Engine, user_ids, before) -> pd.DataFrame:
    """Per user: the cuisine spread of their paid items served before ``before``."""
    o = S.mart_order_item.c
    query = (sa.select(o[C.USER_ID], o[C.CUISINE_CODE], o[C.COUNT])
             .where(o[C.IS_PAID] == sa.true(), o[C.SERVICE_DATE] < before))
    with engine.connect() as conn:
        items = pd.read_sql(query, conn)
    items = items[items[C.USER_ID].isin(set(int(u) for u in user_ids))]
    return cuisine_spread(items, weight=C.COUNT)


def last_items_spread(engine: sa.Engine, user_ids, before, n: int = 10) -> pd.DataFrame:
    """Per user: the cuisine spread of their last ``n`` paid items before ``before`` — a history of
    a top-10's length, so a list and a history are compared at the same size."""
    o = S.mart_order_item.c
    query = (sa.select(o[C.USER_ID], o[C.CUISINE_CODE], o[C.SERVICE_DATE], o[C.ORDER_ITEM_ID])
             .where(o[C.IS_PAID] == sa.true(), o[C.SERVICE_DATE] < before))
    with engine.connect() as conn:
        items = pd.read_sql(query, conn)
    items = items[items[C.USER_ID].isin(set(int(u) for u in user_ids))]
    items = items.sort_values([C.USER_ID, C.SERVICE_DATE, C.ORDER_ITEM_ID]).groupby(C.USER_ID).tail(n)
    return cuisine_spread(items)
