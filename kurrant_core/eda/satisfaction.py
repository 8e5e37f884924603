"""Review satisfaction (1-5) by cuisine and by maker, and the distribution of unit prices."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import SATISFACTION_SUM, add_mean_satisfaction, read_frame
from kurrant_core.eda.names import maker_names, with_names
from kurrant_core.eda.sources import items, menu_orders, reviews, satisfaction_sum

PRICE_BIN_WON = 1_000
"""Width of a unit-price bucket in the price distribution."""


def satisfaction_by_category(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Mean satisfaction and number of reviews per cuisine, labelled in Korean, best first."""
    frame = _satisfaction_by(engine, filt, C.CUISINE_CODE)
    frame.insert(1, C.CUISINE_LABEL, frame[C.CUISINE_CODE].map(
        lambda c: codes.label(codes.FOOD_TAG, None if pd.isna(c) else int(c))))
    return frame


PRIOR_REVIEWS = 20
"""Weight of the overall mean in a maker's adjusted satisfaction, in reviews: a maker with 3 reviews
is mostly the overall mean, one with 200 mostly its own."""


def shrink_satisfaction(frame: pd.DataFrame, prior_reviews: int = PRIOR_REVIEWS) -> pd.DataFrame:
    """``frame`` (AVG_SATISFACTION, N_REVIEWS per row) with ADJUSTED_SATISFACTION, the Bayesian
    average ``(n * mean + m * overall) / (n + m)``, overall = the review-weighted mean of all rows.

    Ranking by the raw mean puts a maker with three 5-star reviews above one with two hundred
    reviews averaging 4.6; the adjusted mean needs evidence to move away from the overall mean.
    """
    out = frame.copy()
    n = out[C.N_REVIEWS].astype(float)
    total = n.sum()
    overall = (out[C.AVG_SATISFACTION] * n).sum() / total if total else float("nan")
    out[C.ADJUSTED_SATISFACTION] = (out[C.AVG_SATISFACTION] * n + prior_reviews * overall) / (n + prior_reviews)
    return out


def satisfaction_by_maker(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Mean satisfaction, number of reviews and the adjusted mean (:func:`shrink_satisfaction`) per
    maker, best adjusted mean first."""
    frame = shrink_satisfaction(_satisfaction_by(engine, filt, C.MAKERS_ID, maker_names()))
    return frame.sort_values([C.ADJUSTED_SATISFACTION, C.MAKERS_ID], ascending=[False, True]).reset_index(drop=True)


def _satisfaction_by(engine: sa.Engine, filt: OrderFilter, key: str,
                     names: sa.FromClause | None = None) -> pd.DataFrame:
    menu = menu_orders(filt)
    stmt = (sa.select(menu.c[key], satisfaction_sum(menu, filt).label(SATISFACTION_SUM),
                      reviews(menu, filt).label(C.N_REVIEWS))
            .group_by(menu.c[key]).having(reviews(menu, filt) > 0))
    if names is not None:
        stmt, _ = with_names(stmt, key, names)
    frame = add_mean_satisfaction(read_frame(engine, stmt))
    frame = frame[[c for c in frame.columns if c != C.N_REVIEWS] + [C.N_REVIEWS]]
    return frame.sort_values([C.AVG_SATISFACTION, key], ascending=[False, True]).reset_index(drop=True)


def price_distribution(engine: sa.Engine, filt: OrderFilter, bin_won: int = PRICE_BIN_WON) -> pd.DataFrame:
    """Items per unit-price bucket (line total / count, floored to ``bin_won``): the bucket's lower edge."""
    menu = menu_orders(filt)
    bucket = (menu.c[C.UNIT_PRICE] // bin_won) * bin_won
    stmt = (sa.select(bucket.label(C.UNIT_PRICE), items(menu, filt).label(C.N_ITEMS))
            .group_by(bucket).having(items(menu, filt) > 0).order_by(bucket))
    return read_frame(engine, stmt)
