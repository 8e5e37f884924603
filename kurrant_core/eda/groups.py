"""Side-by-side comparison of client groups (companies) under the same filter."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, activity_columns, add_rates, n_items, read_frame


def group_names() -> sa.Subquery:
    """group id -> name, read from the users' memberships (the marts have no group table)."""
    user = S.mart_user
    return (sa.select(user.c[C.GROUP_ID], sa.func.max(user.c[C.GROUP_NAME]).label(C.GROUP_NAME))
            .where(user.c[C.GROUP_ID].is_not(None)).group_by(user.c[C.GROUP_ID]).subquery())


def group_comparison(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per group: orders, items, active users, revenue, items per user, cancellation rate,
    mean satisfaction and distinct foods ordered; most items first."""
    names = group_names()
    key = MOI.c[C.GROUP_ID]
    stmt = (sa.select(key, sa.func.max(names.c[C.GROUP_NAME]).label(C.GROUP_NAME), *activity_columns(),
                      sa.func.count(sa.distinct(MOI.c[C.FOOD_ID])).label(C.N_FOODS))
            .select_from(MOI.outerjoin(names, names.c[C.GROUP_ID] == key))
            .where(filt.where_clause(MOI)).group_by(key).order_by(n_items().desc(), key))
    return add_rates(read_frame(engine, stmt))
