"""User activity: how much each user orders, new vs returning users, weekly cohort retention.

A user's first order is their first *paid* item, over all time and all groups
(``mart_user.first_order_date``; the day-count marts keep its week as ``cohort_week``), so "new"
means new to Kurrant, whatever the filter. A user active in a week whose first paid order is not
before that week (or who has none) counts as new that week.

Who was active when, and with how many items, comes from the day-count strings
(:mod:`kurrant_core.day_counts`) - ``mart_user_days`` (one row per user) or, with a group, spot or
meal filter, ``mart_user_activity`` (per user and spot's meal type): string functions over one row
per user instead of a COUNT(DISTINCT) or GROUP BY over every item of the range - unless the filter
names makers or cuisines, which only the items know.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, day_counts, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import n_items, ratio, read_frame
from kurrant_core.sql_dates import week_start

DAYS_PER_WEEK = 7
N_RETAINED = "n_retained"
ITEMS = S.mart_item_slim
"""Where a filter the day counts cannot answer reads items: the item mart's narrow copy, clustered by
date and holding every filter column - 4x faster to scan than the item mart's covering index."""
_USERS_ALIKE = "users_alike"


# ------------------------------------------------------------------ day-count strings or items
@dataclass(frozen=True)
class DayCounts:
    """The day-count table a filter reads, the day its strings start and the largest day count."""

    table: sa.Table
    first_day: date
    peak: int

    def window(self, filt: OrderFilter, start: date, end: date) -> sa.ColumnElement | None:
        """The characters of ``start .. end`` in the column the filter counts (paid or all items)."""
        column = self.table.c[C.DAY_ITEMS_PAID if filt.paid_only else C.DAY_ITEMS]
        return day_counts.window(column, self.first_day, start, end)

    @property
    def per_user(self) -> bool:
        return self.table is S.mart_user_days


def _use_day_counts(filt: OrderFilter) -> bool:
    """The day-count strings know groups, spots and meal types, not foods, makers or cuisines."""
    return not (filt.makers_ids or filt.cuisine_codes)


def _day_count_table(filt: OrderFilter) -> sa.Table:
    """``mart_user_days`` (one row per user) unless the filter needs the spot-meal grain."""
    return S.mart_user_activity if (filt.group_ids or filt.spot_ids or filt.dining_types) else S.mart_user_days


def _day_counts(engine: sa.Engine, filt: OrderFilter) -> DayCounts | None:
    """Where the filter's user figures come from, or None when it needs the items (or there are no
    strings). One index probe reads the first day and the peak count (the same bound for both tables:
    a per-user day sums that user's per-spot-meal days)."""
    if not _use_day_counts(filt):
        return None
    t = S.mart_user_days
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c[C.FIRST_DAY], t.c[C.PEAK_DAY_ITEMS])
                           .order_by(t.c[C.PEAK_DAY_ITEMS].desc()).limit(1)).first()
    if row is None:
        return None
    return DayCounts(_day_count_table(filt), pd.Timestamp(row[0]).date(), int(row[1]))


def items_per_user(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Distribution of items per active user: for each item count, how many users ordered that many."""
    counts = _day_counts(engine, filt)
    if counts is not None and day_counts.exact_up_to(counts.peak):
        t, days = counts.table, counts.window(filt, filt.start, filt.end)
        total, where = day_counts.item_total(days, counts.peak), [filt.where_clause(t), day_counts.has_items(days)]
        if counts.per_user:                                       # already one row per user
            per_user = sa.select(total.label(C.N_ITEMS)).where(*where).subquery()
        else:
            per_user = (sa.select(t.c[C.USER_ID], sa.func.sum(total).label(C.N_ITEMS)).where(*where)
                        .group_by(t.c[C.USER_ID]).subquery())
    else:
        per_user = (sa.select(ITEMS.c[C.USER_ID], n_items(ITEMS).label(C.N_ITEMS)).where(filt.where_clause(ITEMS))
                    .group_by(ITEMS.c[C.USER_ID]).subquery())
    items = per_user.c[C.N_ITEMS]
    stmt = sa.select(items, sa.func.count().label(C.N_USERS)).group_by(items).order_by(items)
    return read_frame(engine, stmt)


def active_users(engine: sa.Engine, filt: OrderFilter, *periods: tuple[date, date]) -> list[int]:
    """Distinct users with at least one item under the filter in each period (default: its range)."""
    periods = periods or ((filt.start, filt.end),)
    counts = _day_counts(engine, filt)
    if counts is not None:
        t, user = counts.table, counts.table.c[C.USER_ID]
        active = [day_counts.has_items(counts.window(filt, a, b)) for a, b in periods]
        if counts.per_user:                                       # one row per user: a plain sum
            columns = [sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0) for cond in active]
        else:
            columns = [sa.func.count(sa.distinct(sa.case((cond, user)))) for cond in active]
        stmt = sa.select(*columns).where(filt.where_clause(t))
    else:
        day, span = ITEMS.c[C.SERVICE_DATE], filt.replace(start=min(a for a, _ in periods),
                                                          end=max(b for _, b in periods))
        stmt = (sa.select(*[sa.func.count(sa.distinct(sa.case((day.between(a, b), ITEMS.c[C.USER_ID]))))
                            for a, b in periods]).where(span.where_clause(ITEMS)))
    with engine.connect() as conn:
        return [int(v or 0) for v in conn.execute(stmt).one()]


def active_users_by(engine: sa.Engine, filt: OrderFilter, key: str) -> pd.DataFrame:
    """Distinct users with at least one item under the filter, per value of ``key`` (e.g. group).
    The distinct (key, user) pairs first, then a count per key: MySQL's COUNT(DISTINCT) per group
    sorts every row and is ~4x slower."""
    counts = _day_counts(engine, filt)
    if counts is not None:
        t = S.mart_user_activity                  # per group, spot or meal: always the spot-meal rows
        active = day_counts.has_items(dataclasses.replace(counts, table=t).window(filt, filt.start, filt.end))
        where = [filt.where_clause(t), active]
    else:
        t = ITEMS
        where = [filt.where_clause(ITEMS)]
    pairs = sa.select(t.c[key], t.c[C.USER_ID]).where(*where).distinct().subquery()
    return read_frame(engine, sa.select(pairs.c[key], sa.func.count().label(C.N_USERS)).group_by(pairs.c[key]))


def _weeks(filt: OrderFilter) -> list[date]:
    """Monday of every week the filter's range touches."""
    first = filt.start - timedelta(days=filt.start.weekday())
    return [first + timedelta(weeks=i) for i in range((filt.end - first).days // DAYS_PER_WEEK + 1)]


def _weekly_flags(engine: sa.Engine, filt: OrderFilter, weeks: list[date]) -> sa.Subquery:
    """Users active under the filter: their cohort week, w<i> = 1 when active in week i (within the
    range) and how many users the row stands for; from the day-count strings when the filter allows,
    else from the items."""
    spans = [(max(week, filt.start), min(week + timedelta(days=DAYS_PER_WEEK - 1), filt.end)) for week in weeks]
    counts = _day_counts(engine, filt)
    if counts is None:
        user = S.mart_user
        inside = [ITEMS.c[C.SERVICE_DATE].between(a, b) for a, b in spans]
        flags = (sa.select(ITEMS.c[C.USER_ID], *[sa.func.max(sa.case((cond, 1), else_=0)).label(f"w{i}")
                                               for i, cond in enumerate(inside)])
                 .where(filt.where_clause(ITEMS)).group_by(ITEMS.c[C.USER_ID]).subquery())
        cohort = week_start(user.c[C.FIRST_ORDER_DATE]).label(C.COHORT_WEEK)
        return (sa.select(flags.c[C.USER_ID], cohort, *[flags.c[f"w{i}"] for i in range(len(weeks))],
                          sa.literal(1).label(_USERS_ALIKE))
                .select_from(flags.outerjoin(user, user.c[C.USER_ID] == flags.c[C.USER_ID])).subquery("weekly"))
    t = counts.table
    inside = [sa.case((day_counts.has_items(counts.window(filt, a, b)), 1), else_=0) for a, b in spans]
    in_range = day_counts.has_items(counts.window(filt, filt.start, filt.end))
    if counts.per_user:
        # one row per user already: group them by cohort and week pattern, so each flag's string
        # test runs once per user (a derived table without GROUP BY is merged into the outer query,
        # which would repeat the tests for every reference)
        flags = [flag.label(f"w{i}") for i, flag in enumerate(inside)]
        return (sa.select(t.c[C.COHORT_WEEK], *flags, sa.func.count().label(_USERS_ALIKE)).where(in_range)
                .group_by(t.c[C.COHORT_WEEK], *flags).subquery("weekly"))
    return (sa.select(t.c[C.USER_ID], sa.func.max(t.c[C.COHORT_WEEK]).label(C.COHORT_WEEK),
                      *[sa.func.max(flag).label(f"w{i}") for i, flag in enumerate(inside)],
                      sa.literal(1).label(_USERS_ALIKE))
            .where(filt.where_clause(t), in_range).group_by(t.c[C.USER_ID]).subquery("weekly"))


# ------------------------------------------------------------------ new vs returning, cohorts
def weekly_user_counts(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Per cohort (week of first paid order, NaT for none) and active week: users active under the
    filter that week (``n_users``) and, of those, users also active in their own cohort week
    (``n_retained``). :func:`new_vs_returning_from` and :func:`cohort_retention_from` read both
    charts off this one query."""
    columns = [C.COHORT_WEEK, C.WEEK, C.N_USERS, N_RETAINED]
    if not (filt.start and filt.end) or filt.start > filt.end:
        return pd.DataFrame(columns=columns)
    weeks = _weeks(filt)
    flags = _weekly_flags(engine, filt, weeks)
    cohort = flags.c[C.COHORT_WEEK]
    in_cohort = sa.case(*[(cohort == sa.literal(week, sa.Date), flags.c[f"w{i}"]) for i, week in enumerate(weeks)],
                        else_=0) == 1
    sums = []
    for i in range(len(weeks)):
        active = flags.c[f"w{i}"] * flags.c[_USERS_ALIKE]
        sums += [sa.func.sum(active).label(f"a{i}"), sa.func.sum(sa.case((in_cohort, active), else_=0)).label(f"r{i}")]
    stmt = sa.select(cohort, *sums).group_by(cohort)
    wide = read_frame(engine, stmt)
    n = len(wide)
    frame = pd.DataFrame({                              # one row per cohort x week, cohort-major
        C.COHORT_WEEK: np.repeat(wide[C.COHORT_WEEK].to_numpy(), len(weeks)),
        C.WEEK: np.tile(np.array(weeks, dtype=object), n),
        C.N_USERS: wide[[f"a{i}" for i in range(len(weeks))]].fillna(0).to_numpy(dtype=np.int64).ravel(),
        N_RETAINED: wide[[f"r{i}" for i in range(len(weeks))]].fillna(0).to_numpy(dtype=np.int64).ravel()},
        columns=columns)
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
