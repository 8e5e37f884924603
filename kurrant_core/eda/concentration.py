"""How concentrated orders are on few foods: Lorenz curve, Gini, top-10 % share, week by week.

The business worry is that orders converge onto the same few menus. Per-food item counts come from
SQL (window functions build the Lorenz curve and the weekly Gini); 0 = every food equally ordered,
towards 1 = one food takes everything. Only foods ordered at least once under the filter count.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import as_datetime, ratio, read_frame
from kurrant_core.eda.sources import items, menu_orders
from kurrant_core.sql_dates import week_start

TOP_FRACTION_DENOMINATOR = 10
"""Top 1/10 of foods: rank r (1 = most ordered) is in the top when 10·(r − 1) < n."""
_WEIGHTED, _TOP, _CUM = "weighted_sum", "top_items", "cum_items"
_RANK, _RANK_DESC = "rank_asc", "rank_desc"


def lorenz_curve(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Points of the Lorenz curve: cumulative share of foods (least ordered first) against
    cumulative share of items, starting at (0, 0)."""
    menu = menu_orders(filt)
    per_food = (sa.select(menu.c[C.FOOD_ID], items(menu, filt).label(C.N_ITEMS))
                .group_by(menu.c[C.FOOD_ID]).having(items(menu, filt) > 0).subquery())
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


def curve_summary(curve: pd.DataFrame) -> pd.Series:
    """Number of foods, Gini and top-10 % share read off a :func:`lorenz_curve` (no second query):
    Gini = 1 - twice the area under the curve; the top 10 % of foods hold 1 - y at x = 1 - k/n."""
    n = len(curve) - 1
    if n <= 0:
        return pd.Series({C.N_FOODS: 0, C.GINI: np.nan, C.TOP10_SHARE: np.nan})
    x, y = curve[C.FOOD_SHARE].to_numpy(), curve[C.ITEM_SHARE].to_numpy()
    gini = 1 - float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])))
    top = -(-n // TOP_FRACTION_DENOMINATOR)                  # ceil(n / 10) foods
    return pd.Series({C.N_FOODS: n, C.GINI: gini, C.TOP10_SHARE: 1 - float(y[n - top])})


def concentration_summary(engine: sa.Engine, filt: OrderFilter) -> pd.Series:
    """Number of foods, Gini and top-10 % share over the whole filter."""
    return curve_summary(lorenz_curve(engine, filt))


def weekly_concentration(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Gini and top-10 % share of each week (Monday start), to see whether orders converge.

    Per week, from the ascending ranks ``i`` of its n per-food counts ``x`` (window functions):
    ``G = 2·Σ i·x_i / (n·Σx) − (n + 1) / n``, and the top 10 % are the foods whose descending
    rank r satisfies 10·(r − 1) < n, i.e. r ≤ ceil(n / 10).
    """
    menu = menu_orders(filt)
    week = week_start(menu.c[C.SERVICE_DATE])
    per_food = (sa.select(week.label(C.WEEK), menu.c[C.FOOD_ID], items(menu, filt).label(C.N_ITEMS))
                .group_by(week, menu.c[C.FOOD_ID]).having(items(menu, filt) > 0).subquery())
    per_week, partition = per_food.c[C.N_ITEMS], [per_food.c[C.WEEK]]
    ranked = sa.select(
        per_food.c[C.WEEK], per_week,
        sa.func.row_number().over(partition_by=partition, order_by=per_week).label(_RANK),
        sa.func.row_number().over(partition_by=partition, order_by=per_week.desc()).label(_RANK_DESC),
        sa.func.count().over(partition_by=partition).label(C.N_FOODS),
    ).subquery()
    in_top = TOP_FRACTION_DENOMINATOR * (ranked.c[_RANK_DESC] - 1) < ranked.c[C.N_FOODS]
    stmt = (sa.select(ranked.c[C.WEEK], sa.func.count().label(C.N_FOODS),
                      sa.func.sum(ranked.c[C.N_ITEMS]).label(C.N_ITEMS),
                      sa.func.sum(ranked.c[_RANK] * ranked.c[C.N_ITEMS]).label(_WEIGHTED),
                      sa.func.sum(sa.case((in_top, ranked.c[C.N_ITEMS]), else_=0)).label(_TOP))
            .group_by(ranked.c[C.WEEK]).order_by(ranked.c[C.WEEK]))
    frame = read_frame(engine, stmt)
    n, total = frame[C.N_FOODS].astype(float), frame[C.N_ITEMS].astype(float)
    frame[C.GINI] = 2 * ratio(frame[_WEIGHTED], n * total) - (n + 1) / n
    frame[C.TOP10_SHARE] = ratio(frame[_TOP], total)
    return as_datetime(frame.drop(columns=[_WEIGHTED, _TOP]), C.WEEK)
