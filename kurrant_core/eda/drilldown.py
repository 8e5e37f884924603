"""One food under the page's filter: its weekly trend, the groups that order it, its reviews."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, as_datetime, n_items, n_orders, n_users, read_frame
from kurrant_core.eda.names import group_names, with_names
from kurrant_core.rollups import MEAL_KEY
from kurrant_core.sql_dates import week_start


def _food(filt: OrderFilter, food_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(filt.where_clause(MOI), MOI.c[C.FOOD_ID] == int(food_id))


def food_weekly_trend(engine: sa.Engine, filt: OrderFilter, food_id: int) -> pd.DataFrame:
    """Items and ordering users of one food per week."""
    week = week_start(MOI.c[C.SERVICE_DATE])
    stmt = (sa.select(week.label(C.WEEK), n_items().label(C.N_ITEMS), n_users().label(C.N_USERS))
            .where(_food(filt, food_id)).group_by(week).order_by(week))
    return as_datetime(read_frame(engine, stmt), C.WEEK)


def food_groups(engine: sa.Engine, filt: OrderFilter, food_id: int) -> pd.DataFrame:
    """Groups that ordered the food, most items first."""
    key = MOI.c[C.GROUP_ID]
    meals = (sa.select(key, n_orders().label(C.N_ORDERS)).where(_food(filt, food_id))
             .group_by(*[MOI.c[c] for c in MEAL_KEY]).subquery())
    meal_orders = (sa.select(meals.c[C.GROUP_ID], sa.func.sum(meals.c[C.N_ORDERS]).label(C.N_ORDERS))
                   .group_by(meals.c[C.GROUP_ID]).subquery())
    per_group = (sa.select(key, sa.func.max(meal_orders.c[C.N_ORDERS]).label(C.N_ORDERS), n_items().label(C.N_ITEMS),
                           n_users().label(C.N_USERS))
                 .select_from(MOI.join(meal_orders, meal_orders.c[C.GROUP_ID] == key))
                 .where(_food(filt, food_id)).group_by(key))
    stmt, agg = with_names(per_group, C.GROUP_ID, group_names())
    return read_frame(engine, stmt.order_by(agg.c[C.N_ITEMS].desc(), agg.c[C.GROUP_ID]))


def food_satisfaction(engine: sa.Engine, filt: OrderFilter, food_id: int) -> pd.DataFrame:
    """Number of reviews per satisfaction score (1-5) of the food."""
    score = MOI.c[C.SATISFACTION]
    stmt = (sa.select(score, sa.func.count().label(C.N_REVIEWS))
            .where(_food(filt, food_id), score.is_not(None)).group_by(score).order_by(score))
    return read_frame(engine, stmt)
