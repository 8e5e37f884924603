"""User activity: how much each user orders, new vs returning users, weekly cohort retention.

A user's first order is ``mart_user.first_order_date`` (their first *paid* item, over all time and
all groups), so "new" means new to Kurrant, whatever the filter. A user active in a week whose
first paid order is not before that week (or who has none) counts as new that week.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.eda.dates import days_between, week_start
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, as_datetime, n_items, ratio, read_frame

DAYS_PER_WEEK = 7


def items_per_user(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Distribution of items per active user: for each item count, how many users ordered that many."""
    per_user = (sa.select(MOI.c[C.USER_ID], n_items().label(C.N_ITEMS)).where(filt.where_clause(MOI))
                .group_by(MOI.c[C.USER_ID]).subquery())
    items = per_user.c[C.N_ITEMS]
    stmt = sa.select(items, sa.func.count().label(C.N_USERS)).group_by(items).order_by(items)
    return read_frame(engine, stmt)


def _active_weeks(filt: OrderFilter) -> sa.CTE:
    """Distinct (user, week) pairs with at least one item under the filter."""
    week = week_start(MOI.c[C.SERVICE_DATE])
    return (sa.select(MOI.c[C.USER_ID], week.label(C.WEEK)).where(filt.where_clause(MOI))
            .group_by(MOI.c[C.USER_ID], week).cte("active_weeks"))


def new_vs_returning(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Per week: active users whose first paid order is in that week or later (new), and the rest."""
    active, user = _active_weeks(filt), S.mart_user
    first = user.c[C.FIRST_ORDER_DATE]
    returning = sa.and_(first.is_not(None), first < active.c[C.WEEK])
    stmt = (sa.select(active.c[C.WEEK],
                      sa.func.sum(sa.case((returning, 0), else_=1)).label(C.NEW_USERS),
                      sa.func.sum(sa.case((returning, 1), else_=0)).label(C.RETURNING_USERS))
            .select_from(active.outerjoin(user, user.c[C.USER_ID] == active.c[C.USER_ID]))
            .group_by(active.c[C.WEEK]).order_by(active.c[C.WEEK]))
    return as_datetime(read_frame(engine, stmt), C.WEEK)


def cohort_retention(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Weekly cohorts (week of first paid order, active under the filter that week) and the share
    of each still active under the filter 0, 1, 2, ... weeks later."""
    active, user = _active_weeks(filt), S.mart_user
    cohort = (sa.select(active.c[C.USER_ID], active.c[C.WEEK].label(C.COHORT_WEEK))
              .select_from(active.join(user, user.c[C.USER_ID] == active.c[C.USER_ID]))
              .where(week_start(user.c[C.FIRST_ORDER_DATE]) == active.c[C.WEEK]).subquery())
    weeks_since = days_between(active.c[C.WEEK], cohort.c[C.COHORT_WEEK]) // DAYS_PER_WEEK
    stmt = (sa.select(cohort.c[C.COHORT_WEEK], weeks_since.label(C.WEEKS_SINCE),
                      sa.func.count().label(C.N_USERS))
            .select_from(cohort.join(active, sa.and_(active.c[C.USER_ID] == cohort.c[C.USER_ID],
                                                     active.c[C.WEEK] >= cohort.c[C.COHORT_WEEK])))
            .group_by(cohort.c[C.COHORT_WEEK], weeks_since)
            .order_by(cohort.c[C.COHORT_WEEK], weeks_since))
    frame = as_datetime(read_frame(engine, stmt), C.COHORT_WEEK)
    sizes = frame.loc[frame[C.WEEKS_SINCE] == 0, [C.COHORT_WEEK, C.N_USERS]]
    frame = frame.merge(sizes.rename(columns={C.N_USERS: C.COHORT_SIZE}), on=C.COHORT_WEEK, how="left")
    frame[C.RETENTION] = ratio(frame[C.N_USERS], frame[C.COHORT_SIZE])
    return frame


def retention_matrix(cohorts: pd.DataFrame) -> pd.DataFrame:
    """:func:`cohort_retention` as a cohort-week x weeks-since matrix of retention, for a heatmap."""
    matrix = cohorts.pivot(index=C.COHORT_WEEK, columns=C.WEEKS_SINCE, values=C.RETENTION)
    matrix.index = matrix.index.strftime("%Y-%m-%d")
    return matrix
