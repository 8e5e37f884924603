"""Top foods, makers and categories by items or revenue, with each one's share of the total."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import ratio, read_frame
from kurrant_core.eda.names import food_names, maker_names, with_names
from kurrant_core.eda.sources import items, menu_orders, revenue

RANK_MEASURES = (C.N_ITEMS, C.REVENUE)
_TOTAL = "grand_total"


def top_foods(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """The ``n`` foods with the most items (or revenue): id, name, maker, items, revenue, share."""
    return _ranking(engine, filt, C.FOOD_ID, n, by, names=food_names())


def top_makers(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """The ``n`` makers with the most items (or revenue): id, name, items, revenue, share."""
    return _ranking(engine, filt, C.MAKERS_ID, n, by, names=maker_names())


def top_categories(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """Cuisines (요리스타일 tag) ranked by items (or revenue), labelled in Korean."""
    frame = _ranking(engine, filt, C.CUISINE_CODE, n, by)
    frame.insert(1, C.CUISINE_LABEL, frame[C.CUISINE_CODE].map(
        lambda c: codes.label(codes.FOOD_TAG, None if pd.isna(c) else int(c))))
    return frame


def _ranking(engine: sa.Engine, filt: OrderFilter, key: str, n_top: int, by: str,
             names: sa.FromClause | None = None) -> pd.DataFrame:
    if by not in RANK_MEASURES:
        raise ValueError(f"rank by one of {RANK_MEASURES}, not {by!r}")
    menu = menu_orders(filt)
    n, money = items(menu, filt), revenue(menu)
    measure = n if by == C.N_ITEMS else money
    # SUM(SUM(x)) OVER () is the grand total over every group, computed before LIMIT cuts the list.
    top = (sa.select(menu.c[key], n.label(C.N_ITEMS), money.label(C.REVENUE),
                     sa.func.sum(measure).over().label(_TOTAL))
           .group_by(menu.c[key]).having(n > 0).order_by(measure.desc(), menu.c[key]).limit(n_top))
    if names is not None:
        top, agg = with_names(top, key, names)
        top = top.order_by(agg.c[by].desc(), agg.c[key])
    frame = read_frame(engine, top)
    frame[C.SHARE] = ratio(frame[by], frame[_TOTAL])
    return frame.drop(columns=[_TOTAL])
