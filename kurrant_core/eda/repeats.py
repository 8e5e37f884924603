"""Repeat behaviour: do users order a food they had a few days ago, and after how many days?

Each ordered item's gap - days since the same user last had the same food (a paid item, at any
meal; 0 = earlier the same day) - is computed once by preprocess into ``mart_item_slim``, a
narrow copy of the item mart clustered by date. One scan of the filter's range returns the items
per gap; the shares of repeats within 7 and 30 days and the gap distribution are read off it.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import read_frame

LOOKBACK_DAYS = 30
"""How far back a repeat is looked for; gaps longer than this read as "not a repeat"."""
REPEAT_WINDOWS = {C.REPEAT_7D_SHARE: 7, C.REPEAT_30D_SHARE: 30}


def repeat_gaps(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Items by days since the same user last had the same food (0 = earlier the same day);
    ``days_between`` is missing for items with no such order in the last :data:`LOOKBACK_DAYS`."""
    t = S.mart_item_slim
    gap = t.c[C.DAYS_BETWEEN]
    bucket = sa.case((gap <= LOOKBACK_DAYS, gap), else_=sa.null())
    stmt = (sa.select(bucket.label(C.DAYS_BETWEEN), sa.func.sum(t.c[C.COUNT]).label(C.N_ITEMS))
            .where(filt.where_clause(t)).group_by(bucket).order_by(bucket))
    frame = read_frame(engine, stmt)
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
