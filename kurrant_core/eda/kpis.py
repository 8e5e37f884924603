"""Headline KPIs of a filter, next to the same KPIs over the previous period of equal length."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, activity_columns, add_rates, read_frame

KPI_ORDER = [C.N_ORDERS, C.N_ITEMS, C.N_USERS, C.REVENUE, C.ITEMS_PER_USER, C.CANCEL_RATE,
             C.AVG_SATISFACTION]
"""The KPIs in the order the page shows them."""


def kpi_table(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per KPI (index: :data:`KPI_ORDER`) with current, previous and change (current - previous).

    Both periods come from one scan: the WHERE clause spans both and a CASE tells them apart.
    """
    previous = filt.previous_period()
    is_current = sa.case((MOI.c[C.SERVICE_DATE] >= filt.start, 1), else_=0).label(C.CURRENT)
    stmt = (sa.select(is_current, *activity_columns())
            .where(filt.replace(start=previous.start).where_clause(MOI))
            .group_by(is_current))
    rows = add_rates(read_frame(engine, stmt)).set_index(C.CURRENT)
    empty = pd.Series({C.N_ORDERS: 0, C.N_ITEMS: 0, C.N_USERS: 0, C.REVENUE: 0})
    current = rows.loc[1] if 1 in rows.index else empty
    before = rows.loc[0] if 0 in rows.index else empty
    out = pd.DataFrame({C.CURRENT: current.reindex(KPI_ORDER), C.PREVIOUS: before.reindex(KPI_ORDER)},
                       dtype=float)
    out[C.CHANGE] = out[C.CURRENT] - out[C.PREVIOUS]
    out.index.name = C.KPI
    return out
