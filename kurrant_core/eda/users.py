"""User activity: how much each user orders, new vs returning users, weekly cohort retention.

A user's first order is ``mart_user.first_order_date`` (their first *paid* item, over all time and
all groups), so "new" means new to Kurrant, whatever the filter. A user active in a week whose
first paid order is not before that week (or who has none) counts as new that week.

Who was active when comes from the day strings - ``mart_user_days`` (one row per user) or, with a
group, spot or meal filter, ``mart_user_activity`` (per user and spot's meal type): a substring
test per row instead of a COUNT(DISTINCT) over every item of the range - unless the filter names
makers or cuisines, which only the items know.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.sql_dates import week_start
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, n_items, n_users, ratio, read_frame

DAYS_PER_WEEK = 7
N_RETAINED = "n_retained"


def items_per_user(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Distribution of items per active user: for each item count, how many users ordered that many."""
    slim = S.mart_item_slim            # the item rows of a date range, without the wide columns
    per_user = (sa.select(slim.c[C.USER_ID], n_items(slim).label(C.N_ITEMS)).where(filt.where_clause(slim))
                .group_by(slim.c[C.USER_ID]).subquery())
    items = per_user.c[C.N_ITEMS]
    stmt = sa.select(items, sa.func.count().label(C.N_USERS)).group_by(items).order_by(items)
    return read_frame(engine, stmt)


# ------------------------------------------------------------------ activity strings or items
def _use_activity(filt: OrderFilter) -> bool:
    """The day strings know groups, spots and meal types, not foods, makers or cuisines."""
    return not (filt.makers_ids or filt.cuisine_codes)


def _day_strings(filt: OrderFilter) -> sa.Table:
    """``mart_user_days`` (one row per user) unless the filter needs the spot-meal grain."""
    return S.mart_user_activity if (filt.group_ids or filt.spot_ids or filt.dining_types) else S.mart_user_days


def _strings_first_day(engine: sa.Engine, filt: OrderFilter) -> date | None:
    """The day strings' first day, or None when the filter needs the items (or there are no strings)."""
    if not _use_activity(filt):
        return None
    with engine.connect() as conn:
        day = conn.execute(sa.select(S.mart_user_days.c[C.FIRST_DAY]).limit(1)).scalar()
    return None if day is None else pd.Timestamp(day).date()


def _active_between(filt: OrderFilter, first_day: date, start: date, end: date,
                    table: sa.Table = S.mart_user_activity) -> sa.ColumnElement[bool]:
    """A day-string row had an item the filter counts on some day of ``start .. end``."""
    a, b = max((start - first_day).days, 0), (end - first_day).days
    if b < a:
        return sa.false()
    days = table.c[C.DAYS_PAID if filt.paid_only else C.DAYS_ACTIVE]
    return sa.func.instr(sa.func.substr(days, a + 1, b - a + 1), "1") > 0


def _count_users(cond: sa.ColumnElement[bool], user: sa.ColumnElement, distinct: bool = True) -> sa.ColumnElement:
    if distinct:
        return sa.func.count(sa.distinct(sa.case((cond, user))))
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)      # one row per user


def active_users(engine: sa.Engine, filt: OrderFilter, *periods: tuple[date, date]) -> list[int]:
    """Distinct users with at least one item under the filter in each period (default: its range)."""
    periods = periods or ((filt.start, filt.end),)
    first_day = _strings_first_day(engine, filt)
    if first_day is not None:
        t = _day_strings(filt)
        counts = [_count_users(_active_between(filt, first_day, a, b, t), t.c[C.USER_ID],
                               distinct=t is S.mart_user_activity) for a, b in periods]
        stmt = sa.select(*counts).where(filt.where_clause(t))
    else:
        day, span = MOI.c[C.SERVICE_DATE], filt.replace(start=min(a for a, _ in periods),
                                                          end=max(b for _, b in periods))
        stmt = (sa.select(*[_count_users(day.between(a, b), MOI.c[C.USER_ID]) for a, b in periods])
                .where(span.where_clause(MOI)))
    with engine.connect() as conn:
        return [int(v or 0) for v in conn.execute(stmt).one()]


def active_users_by(engine: sa.Engine, filt: OrderFilter, key: str) -> pd.DataFrame:
    """Distinct users with at least one item under the filter, per value of ``key`` (e.g. group)."""
    first_day = _strings_first_day(engine, filt)
    if first_day is not None:
        act = S.mart_user_activity
        stmt = (sa.select(act.c[key], sa.func.count(sa.distinct(act.c[C.USER_ID])).label(C.N_USERS))
                .where(filt.where_clause(act), _active_between(filt, first_day, filt.start, filt.end))
                .group_by(act.c[key]))
    else:
        stmt = (sa.select(MOI.c[key], n_users().label(C.N_USERS)).where(filt.where_clause(MOI))
                .group_by(MOI.c[key]))
    return read_frame(engine, stmt)


def _weeks(filt: OrderFilter) -> list[date]:
    """Monday of every week the filter's range touches."""
    first = filt.start - timedelta(days=filt.start.weekday())
    return [first + timedelta(weeks=i) for i in range((filt.end - first).days // DAYS_PER_WEEK + 1)]


def _weekly_flags(engine: sa.Engine, filt: OrderFilter, weeks: list[date]) -> sa.Subquery:
    """One row per user active under the filter: w<i> = 1 when active in week i (within the range);
    from the activity strings when the filter allows, else from the items."""
    spans = [(max(week, filt.start), min(week + timedelta(days=DAYS_PER_WEEK - 1), filt.end)) for week in weeks]
    first_day = _strings_first_day(engine, filt)
    if first_day is None:
        t = MOI
        inside = [t.c[C.SERVICE_DATE].between(a, b) for a, b in spans]
    else:
        t = _day_strings(filt)
        inside = [_active_between(filt, first_day, a, b, t) for a, b in spans]
    flags = [sa.case((cond, 1), else_=0) for cond in inside]
    if t is S.mart_user_days:                                   # already one row per user
        return (sa.select(t.c[C.USER_ID], *[flag.label(f"w{i}") for i, flag in enumerate(flags)])
                .where(_active_between(filt, first_day, filt.start, filt.end, t)).subquery("weekly"))
    return (sa.select(t.c[C.USER_ID], *[sa.func.max(flag).label(f"w{i}") for i, flag in enumerate(flags)])
            .where(filt.where_clause(t)).group_by(t.c[C.USER_ID]).subquery("weekly"))


# ------------------------------------------------------------------ new vs returning, cohorts
def weekly_user_counts(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Per cohort (week of first paid order, NaT for none) and active week: users active under the
    filter that week (``n_users``) and, of those, users also active in their own cohort week
    (``n_retained``). :func:`new_vs_returning_from` and :func:`cohort_retention_from` read both
    charts off this one query."""
    columns = [C.COHORT_WEEK, C.WEEK, C.N_USERS, N_RETAINED]
    if not (filt.start and filt.end) or filt.start > filt.end:
        return pd.DataFrame(columns=columns)
    weeks, user = _weeks(filt), S.mart_user
    flags = _weekly_flags(engine, filt, weeks)
    cohort = week_start(user.c[C.FIRST_ORDER_DATE])
    in_cohort = sa.case(*[(cohort == sa.literal(week, sa.Date), flags.c[f"w{i}"]) for i, week in enumerate(weeks)],
                        else_=0) == 1
    sums = []
    for i in range(len(weeks)):
        active = flags.c[f"w{i}"]
        sums += [sa.func.sum(active).label(f"a{i}"), sa.func.sum(sa.case((in_cohort, active), else_=0)).label(f"r{i}")]
    stmt = (sa.select(cohort.label(C.COHORT_WEEK), *sums)
            .select_from(flags.outerjoin(user, user.c[C.USER_ID] == flags.c[C.USER_ID])).group_by(cohort))
    wide = read_frame(engine, stmt)
    rows = [(row[C.COHORT_WEEK], week, int(row[f"a{i}"] or 0), int(row[f"r{i}"] or 0))
            for _, row in wide.iterrows() for i, week in enumerate(weeks)]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame[frame[C.N_USERS] > 0]
    frame[C.COHORT_WEEK] = pd.to_datetime(frame[C.COHORT_WEEK])
    frame[C.WEEK] = pd.to_datetime(frame[C.WEEK])
    return frame.sort_values([C.WEEK, C.COHORT_WEEK]).reset_index(drop=True)


def new_vs_returning(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Per week: active users whose first paid order is in that week or later (new), and the rest."""
    return new_vs_returning_from(weekly_user_counts(engine, filt))


def new_vs_returning_from(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`new_vs_returning` from :func:`weekly_user_counts` (no query)."""
    returning = counts[C.COHORT_WEEK].notna() & (counts[C.COHORT_WEEK] < counts[C.WEEK])
    frame = (counts.assign(**{C.NEW_USERS: counts[C.N_USERS].where(~returning, 0),
                              C.RETURNING_USERS: counts[C.N_USERS].where(returning, 0)})
             .groupby(C.WEEK, as_index=False)[[C.NEW_USERS, C.RETURNING_USERS]].sum())
    return frame.astype({C.NEW_USERS: int, C.RETURNING_USERS: int})


def cohort_retention(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Weekly cohorts (week of first paid order, active under the filter that week) and the share
    of each still active under the filter 0, 1, 2, ... weeks later."""
    return cohort_retention_from(weekly_user_counts(engine, filt))


def cohort_retention_from(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`cohort_retention` from :func:`weekly_user_counts` (no query)."""
    kept = counts[counts[C.COHORT_WEEK].notna() & (counts[C.WEEK] >= counts[C.COHORT_WEEK])
                  & (counts[N_RETAINED] > 0)]
    frame = pd.DataFrame({C.COHORT_WEEK: kept[C.COHORT_WEEK],
                          C.WEEKS_SINCE: (kept[C.WEEK] - kept[C.COHORT_WEEK]).dt.days // DAYS_PER_WEEK,
                          C.N_USERS: kept[N_RETAINED].astype(int)})
    frame = frame.sort_values([C.COHORT_WEEK, C.WEEKS_SINCE]).reset_index(drop=True)
    sizes = frame.loc[frame[C.WEEKS_SINCE] == 0, [C.COHORT_WEEK, C.N_USERS]]
    frame = frame.merge(sizes.rename(columns={C.N_USERS: C.COHORT_SIZE}), on=C.COHORT_WEEK, how="left")
    frame[C.RETENTION] = ratio(frame[C.N_USERS], frame[C.COHORT_SIZE])
    return frame


def retention_matrix(cohorts: pd.DataFrame) -> pd.DataFrame:
    """:func:`cohort_retention` as a cohort-week x weeks-since matrix of retention, for a heatmap."""
    matrix = cohorts.pivot(index=C.COHORT_WEEK, columns=C.WEEKS_SINCE, values=C.RETENTION)
    matrix.index = matrix.index.strftime("%Y-%m-%d")
    return matrix
