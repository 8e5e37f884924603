"""How concentrated orders are on few foods: Lorenz curve, Gini, top-10 % share, week by week.

The business worry is that orders converge onto the same few menus. Everything is computed in SQL
over per-food item counts with window functions:

- Gini, from the ascending ranks ``i`` of the n per-food counts ``x``:
  ``G = 2·Σ i·x_i / (n·Σx) − (n + 1) / n`` (0 = every food equally ordered, → 1 = one food takes all);
- top-10 % share: items of the ``ceil(n / 10)`` most-ordered foods over all items.

Only foods ordered at least once under the filter count (a food on no menu cannot be chosen).
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.dates import week_start
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, as_datetime, n_items, ratio, read_frame

TOP_FRACTION_DENOMINATOR = 10
"""Top 1/10 of foods: rank r (1 = most ordered) is in the top when 10·(r − 1) < n."""
_WEIGHTED, _TOP, _CUM = "weighted_sum", "top_items", "cum_items"
_RANK, _RANK_DESC = "rank_asc", "rank_desc"


def lorenz_curve(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Points of the Lorenz curve: cumulative share of foods (least ordered first) against
    cumulative share of items, starting at (0, 0)."""
    per_food = _items_per_food(filt).subquery()
    order = [per_food.c[C.N_ITEMS], per_food.c[C.FOOD_ID]]
    stmt = sa.select(
        sa.func.row_number().over(order_by=order).label(_RANK),
        sa.func.count().over().label(C.N_FOODS),
        sa.func.sum(per_food.c[C.N_ITEMS]).over(order_by=order, rows=(None, 0)).label(_CUM),
        sa.func.sum(per_food.c[C.N_ITEMS]).over().label(C.N_ITEMS),
    ).order_by(*order)
    frame = read_frame(engine, stmt)
    curve = pd.DataFrame({C.FOOD_SHARE: ratio(frame[_RANK], frame[C.N_FOODS]),
                          C.ITEM_SHARE: ratio(frame[_CUM], frame[C.N_ITEMS])})
    return pd.concat([pd.DataFrame({C.FOOD_SHARE: [0.0], C.ITEM_SHARE: [0.0]}), curve], ignore_index=True)


def concentration_summary(engine: sa.Engine, filt: OrderFilter) -> pd.Series:
    """Gini and top-10 % share over the whole filter (plus the number of foods and items)."""
    frame = _concentration(engine, filt, weekly=False)
    if frame.empty:
        return pd.Series({C.N_FOODS: 0, C.N_ITEMS: 0, C.GINI: float("nan"), C.TOP10_SHARE: float("nan")})
    return frame.iloc[0]


def weekly_concentration(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Gini and top-10 % share of each week (Monday start), to see whether orders converge."""
    return as_datetime(_concentration(engine, filt, weekly=True), C.WEEK)


def _items_per_food(filt: OrderFilter, weekly: bool = False) -> sa.Select:
    keys = [MOI.c[C.FOOD_ID]]
    if weekly:
        keys.insert(0, week_start(MOI.c[C.SERVICE_DATE]).label(C.WEEK))
    return (sa.select(*keys, n_items().label(C.N_ITEMS)).where(filt.where_clause(MOI))
            .group_by(*[k.element if isinstance(k, sa.Label) else k for k in keys]))


def _concentration(engine: sa.Engine, filt: OrderFilter, weekly: bool) -> pd.DataFrame:
    per_food = _items_per_food(filt, weekly).subquery()
    items = per_food.c[C.N_ITEMS]
    partition = [per_food.c[C.WEEK]] if weekly else None
    ranked = sa.select(
        *partition or [],
        items,
        sa.func.row_number().over(partition_by=partition, order_by=items).label(_RANK),
        sa.func.row_number().over(partition_by=partition, order_by=items.desc()).label(_RANK_DESC),
        sa.func.count().over(partition_by=partition).label(C.N_FOODS),
    ).subquery()
    in_top = TOP_FRACTION_DENOMINATOR * (ranked.c[_RANK_DESC] - 1) < ranked.c[C.N_FOODS]
    keys = [ranked.c[C.WEEK]] if weekly else []
    stmt = sa.select(
        *keys,
        sa.func.count().label(C.N_FOODS),
        sa.func.sum(ranked.c[C.N_ITEMS]).label(C.N_ITEMS),
        sa.func.sum(ranked.c[_RANK] * ranked.c[C.N_ITEMS]).label(_WEIGHTED),
        sa.func.sum(sa.case((in_top, ranked.c[C.N_ITEMS]), else_=0)).label(_TOP),
    )
    if weekly:
        stmt = stmt.group_by(*keys).order_by(*keys)
    frame = read_frame(engine, stmt)
    frame = frame[frame[C.N_FOODS] > 0]
    n, total = frame[C.N_FOODS].astype(float), frame[C.N_ITEMS].astype(float)
    frame[C.GINI] = 2 * ratio(frame[_WEIGHTED], n * total) - (n + 1) / n
    frame[C.TOP10_SHARE] = ratio(frame[_TOP], total)
    return frame.drop(columns=[_WEIGHTED, _TOP]).reset_index(drop=True)
