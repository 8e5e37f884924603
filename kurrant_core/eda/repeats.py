"""Repeat behaviour: do users order a food they had a few days ago, and after how many days?

For every ordered item in the filter, ``LAG(service_date)`` over the same user's rows of the same
food (ordered by date, then item id) gives the previous time they had it; the gap in days is
``days_between``. The window reads :data:`LOOKBACK_DAYS` before the filter's start so that the
first days of the range see their history too. One scan returns the items per gap; the shares of
repeats within 7 and 30 days and the gap distribution are read off that small table.
"""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.dates import days_between
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, read_frame

LOOKBACK_DAYS = 30
"""How far back a repeat is looked for; gaps longer than this read as "not a repeat"."""
REPEAT_WINDOWS = {C.REPEAT_7D_SHARE: 7, C.REPEAT_30D_SHARE: 30}
_PREVIOUS = "previous_date"


def repeat_gaps(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Items by days since the same user last had the same food (0 = earlier the same day);
    ``days_between`` is missing for items with no such order in the last :data:`LOOKBACK_DAYS`."""
    history = filt.replace(start=filt.start - timedelta(days=LOOKBACK_DAYS)) if filt.start else filt
    day = MOI.c[C.SERVICE_DATE]
    previous = sa.func.lag(day).over(partition_by=[MOI.c[C.USER_ID], MOI.c[C.FOOD_ID]],
                                     order_by=[day, MOI.c[C.ORDER_ITEM_ID]])
    rows = (sa.select(day.label(C.SERVICE_DATE), MOI.c[C.COUNT], previous.label(_PREVIOUS))
            .where(history.where_clause(MOI)).subquery())
    gap = days_between(rows.c[C.SERVICE_DATE], rows.c[_PREVIOUS])
    bucket = sa.case((gap <= LOOKBACK_DAYS, gap), else_=sa.null())
    stmt = sa.select(bucket.label(C.DAYS_BETWEEN), sa.func.sum(rows.c[C.COUNT]).label(C.N_ITEMS))
    if filt.start:
        stmt = stmt.where(rows.c[C.SERVICE_DATE] >= filt.start)
    frame = read_frame(engine, stmt.group_by(bucket).order_by(bucket))
    frame[C.DAYS_BETWEEN] = frame[C.DAYS_BETWEEN].astype("Int64")
    return frame


def repeat_shares(gaps: pd.DataFrame) -> pd.Series:
    """Share of items that repeat a food the user had within 7 and within 30 days (NaN when empty)."""
    total = float(gaps[C.N_ITEMS].sum())
    days = gaps[C.DAYS_BETWEEN]
    return pd.Series({name: (float(gaps.loc[days.notna() & (days <= window), C.N_ITEMS].sum()) / total
                             if total else float("nan"))
                      for name, window in REPEAT_WINDOWS.items()})


def repeat_gap_distribution(gaps: pd.DataFrame) -> pd.DataFrame:
    """The repeats only: items per gap in days, 0 .. :data:`LOOKBACK_DAYS`."""
    return gaps[gaps[C.DAYS_BETWEEN].notna()].rename(columns={C.N_ITEMS: C.N_REPEATS}).reset_index(drop=True)
