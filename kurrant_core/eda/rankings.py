"""Top foods, makers and categories by items or revenue, with each one's share of the total."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, n_items, ratio, read_frame, revenue

RANK_MEASURES = (C.N_ITEMS, C.REVENUE)
_TOTAL = "grand_total"


def top_foods(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """The ``n`` foods with the most items (or revenue): id, name, maker, items, revenue, share."""
    food = S.mart_food
    return _ranking(engine, filt, [MOI.c[C.FOOD_ID]], n, by,
                    names=[food.c[C.FOOD_NAME], food.c[C.MAKERS_NAME]],
                    join=(food, food.c[C.FOOD_ID] == MOI.c[C.FOOD_ID]))


def top_makers(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """The ``n`` makers with the most items (or revenue): id, name, items, revenue, share."""
    makers = (sa.select(S.mart_food.c[C.MAKERS_ID], sa.func.max(S.mart_food.c[C.MAKERS_NAME])
                        .label(C.MAKERS_NAME)).group_by(S.mart_food.c[C.MAKERS_ID]).subquery())
    return _ranking(engine, filt, [MOI.c[C.MAKERS_ID]], n, by, names=[makers.c[C.MAKERS_NAME]],
                    join=(makers, makers.c[C.MAKERS_ID] == MOI.c[C.MAKERS_ID]))


def top_categories(engine: sa.Engine, filt: OrderFilter, n: int = 15, by: str = C.N_ITEMS) -> pd.DataFrame:
    """Cuisines (요리스타일 tag) ranked by items (or revenue), labelled in Korean."""
    frame = _ranking(engine, filt, [MOI.c[C.CUISINE_CODE]], n, by)
    frame.insert(1, C.CUISINE_LABEL, frame[C.CUISINE_CODE].map(
        lambda c: codes.label(codes.FOOD_TAG, None if pd.isna(c) else int(c))))
    return frame


def _ranking(engine: sa.Engine, filt: OrderFilter, keys: list[sa.Column], n: int, by: str,
             names: list[sa.ColumnElement] = (), join: tuple | None = None) -> pd.DataFrame:
    if by not in RANK_MEASURES:
        raise ValueError(f"rank by one of {RANK_MEASURES}, not {by!r}")
    items, money = n_items(), revenue()
    measure = items if by == C.N_ITEMS else money
    source = MOI.join(*join) if join else MOI
    # SUM(SUM(x)) OVER () is the grand total over every group, computed before LIMIT cuts the list.
    stmt = (sa.select(*keys, *[sa.func.max(name).label(name.name) for name in names],
                      items.label(C.N_ITEMS), money.label(C.REVENUE), sa.func.sum(measure).over().label(_TOTAL))
            .select_from(source).where(filt.where_clause(MOI))
            .group_by(*keys).order_by(measure.desc(), *keys).limit(n))
    frame = read_frame(engine, stmt)
    frame[C.SHARE] = ratio(frame[by], frame[_TOTAL])
    return frame.drop(columns=[_TOTAL])
