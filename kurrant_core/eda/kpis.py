"""Headline KPIs of a filter, next to the same KPIs over the previous period of equal length."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import SATISFACTION_SUM, add_rates, read_frame
from kurrant_core.eda.sources import cancelled, items, orders, revenue, reviews, satisfaction_sum, slot_orders
from kurrant_core.eda.users import active_users

KPI_ORDER = [C.N_ORDERS, C.N_ITEMS, C.N_USERS, C.REVENUE, C.ITEMS_PER_USER, C.CANCEL_RATE,
             C.AVG_SATISFACTION]
"""The KPIs in the order the page shows them."""


def kpi_table(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per KPI (index: :data:`KPI_ORDER`) with current, previous and change (current - previous).

    Both periods come from one scan of the meal rollup (the WHERE clause spans both and a CASE
    tells them apart); active users, which do not add up over days, from one more.
    """
    previous = filt.previous_period()
    span = filt.replace(start=previous.start)
    slots = slot_orders(span)
    is_current = sa.case((slots.c[C.SERVICE_DATE] >= filt.start, 1), else_=0)
    stmt = (sa.select(is_current.label(C.CURRENT), orders(slots, filt).label(C.N_ORDERS),
                      items(slots, filt).label(C.N_ITEMS), revenue(slots).label(C.REVENUE),
                      cancelled(slots, filt).label(C.N_CANCELLED),
                      satisfaction_sum(slots, filt).label(SATISFACTION_SUM), reviews(slots, filt).label(C.N_REVIEWS))
            .group_by(is_current))
    rows = read_frame(engine, stmt).set_index(C.CURRENT)
    current_users, previous_users = active_users(engine, span, (filt.start, filt.end), (previous.start, previous.end))
    users = pd.Series({1: current_users, 0: previous_users}, name=C.N_USERS)
    rows = add_rates(rows.join(users, how="right").fillna({C.N_ORDERS: 0, C.N_ITEMS: 0, C.REVENUE: 0}))
    out = pd.DataFrame({C.CURRENT: rows.loc[1].reindex(KPI_ORDER), C.PREVIOUS: rows.loc[0].reindex(KPI_ORDER)},
                       dtype=float)
    out[C.CHANGE] = out[C.CURRENT] - out[C.PREVIOUS]
    out.index.name = C.KPI
    return out
