"""Review satisfaction (1-5) by cuisine and by maker, and the distribution of unit prices."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import (MOI, SATISFACTION_SUM, add_mean_satisfaction, n_items, n_reviews,
                                      read_frame, satisfaction_sum)
from kurrant_core.eda.names import maker_names, with_names

PRICE_BIN_WON = 1_000
"""Width of a unit-price bucket in the price distribution."""


def satisfaction_by_category(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Mean satisfaction and number of reviews per cuisine, labelled in Korean, best first."""
    frame = _satisfaction_by(engine, filt, C.CUISINE_CODE)
    frame.insert(1, C.CUISINE_LABEL, frame[C.CUISINE_CODE].map(
        lambda c: codes.label(codes.FOOD_TAG, None if pd.isna(c) else int(c))))
    return frame


def satisfaction_by_maker(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Mean satisfaction and number of reviews per maker, best first."""
    return _satisfaction_by(engine, filt, C.MAKERS_ID, maker_names())


def _satisfaction_by(engine: sa.Engine, filt: OrderFilter, key: str,
                     names: sa.FromClause | None = None) -> pd.DataFrame:
    stmt = (sa.select(MOI.c[key], satisfaction_sum().label(SATISFACTION_SUM), n_reviews().label(C.N_REVIEWS))
            .where(filt.where_clause(MOI), MOI.c[C.SATISFACTION].is_not(None)).group_by(MOI.c[key]))
    if names is not None:
        stmt, _ = with_names(stmt, key, names)
    frame = add_mean_satisfaction(read_frame(engine, stmt))
    frame = frame[[c for c in frame.columns if c != C.N_REVIEWS] + [C.N_REVIEWS]]
    return frame.sort_values([C.AVG_SATISFACTION, key], ascending=[False, True]).reset_index(drop=True)


def price_distribution(engine: sa.Engine, filt: OrderFilter, bin_won: int = PRICE_BIN_WON) -> pd.DataFrame:
    """Items per unit-price bucket (line total / count, floored to ``bin_won``): the bucket's lower edge."""
    unit = MOI.c[C.PRICE] // sa.func.nullif(MOI.c[C.COUNT], 0)
    bucket = (unit // bin_won) * bin_won
    stmt = (sa.select(bucket.label(C.UNIT_PRICE), n_items().label(C.N_ITEMS))
            .where(filt.where_clause(MOI)).group_by(bucket).order_by(bucket))
    return read_frame(engine, stmt)
