"""Side-by-side comparison of client groups (companies) under the same filter."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, activity_columns, add_rates, read_frame
from kurrant_core.eda.names import group_names, with_names


def group_comparison(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per group: orders, items, active users, revenue, items per user, cancellation rate,
    mean satisfaction and distinct foods ordered; most items first."""
    key = MOI.c[C.GROUP_ID]
    per_group = (sa.select(key, *activity_columns(), sa.func.count(sa.distinct(MOI.c[C.FOOD_ID])).label(C.N_FOODS))
                 .where(filt.where_clause(MOI)).group_by(key))
    stmt, agg = with_names(per_group, C.GROUP_ID, group_names())
    return add_rates(read_frame(engine, stmt.order_by(agg.c[C.N_ITEMS].desc(), agg.c[C.GROUP_ID])))
