"""Side-by-side comparison of client groups (companies) under the same filter."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import SATISFACTION_SUM, add_rates, read_frame
from kurrant_core.eda.names import group_names, with_names
from kurrant_core.eda.sources import (
    cancelled,
    items,
    menu_orders,
    orders,
    revenue,
    reviews,
    satisfaction_sum,
    slot_orders,
)
from kurrant_core.eda.users import active_users_by


def group_comparison(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per group: orders, items, active users, revenue, items per user, cancellation rate,
    mean satisfaction and distinct foods ordered; most items first."""
    slots = slot_orders(filt)
    key = slots.c[C.GROUP_ID]
    per_group = (sa.select(key, orders(slots, filt).label(C.N_ORDERS), items(slots, filt).label(C.N_ITEMS),
                           revenue(slots).label(C.REVENUE), cancelled(slots, filt).label(C.N_CANCELLED),
                           satisfaction_sum(slots, filt).label(SATISFACTION_SUM),
                           reviews(slots, filt).label(C.N_REVIEWS))
                 .group_by(key).having(items(slots, filt) > 0))
    stmt, agg = with_names(per_group, C.GROUP_ID, group_names())
    frame = read_frame(engine, stmt.order_by(agg.c[C.N_ITEMS].desc(), agg.c[C.GROUP_ID]))
    frame = frame.merge(active_users_by(engine, filt, C.GROUP_ID), on=C.GROUP_ID, how="left")
    frame = frame.merge(_foods_by_group(engine, filt), on=C.GROUP_ID, how="left")
    frame = add_rates(frame.fillna({C.N_USERS: 0, C.N_FOODS: 0}).astype({C.N_USERS: int, C.N_FOODS: int}))
    return frame[[C.GROUP_ID, C.GROUP_NAME, *COMPARED]]


COMPARED = [C.N_ORDERS, C.N_ITEMS, C.N_USERS, C.REVENUE, C.ITEMS_PER_USER, C.CANCEL_RATE, C.AVG_SATISFACTION,
            C.N_REVIEWS, C.N_CANCELLED, C.N_FOODS]
"""The measures of each group, in the order the table shows them."""


def _foods_by_group(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    menu = menu_orders(filt)
    ordered = (sa.select(menu.c[C.GROUP_ID], menu.c[C.FOOD_ID]).group_by(menu.c[C.GROUP_ID], menu.c[C.FOOD_ID])
               .having(items(menu, filt) > 0).subquery())
    stmt = (sa.select(ordered.c[C.GROUP_ID], sa.func.count().label(C.N_FOODS)).group_by(ordered.c[C.GROUP_ID]))
    return read_frame(engine, stmt)
