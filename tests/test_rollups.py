"""The rollup marts preprocess stores for the order EDA page: each equals its definition computed
independently in pandas from the item mart, and the EDA answers agree whichever path they take."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import columns as C, day_counts, eda, schema as S
from kurrant_core.eda import users
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.rollups import ACTIVITY_KEY, MEAL_KEY


def _read(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(table), conn)
    for col in (C.SERVICE_DATE, C.FIRST_DAY):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


@pytest.fixture(scope="module")
def items(tiny_engine) -> pd.DataFrame:
    oi = _read(tiny_engine, S.mart_order_item)
    oi[C.IS_PAID] = oi[C.IS_PAID].astype(bool)
    oi[C.IS_CANCELLED] = oi[C.IS_CANCELLED].astype(bool)
    oi[C.UNIT_PRICE] = oi[C.PRICE] // oi[C.COUNT]
    oi["paid_count"] = oi[C.COUNT].where(oi[C.IS_PAID], 0)
    oi["cancelled_count"] = oi[C.COUNT].where(oi[C.IS_CANCELLED], 0)
    oi["paid_price"] = oi[C.PRICE].where(oi[C.IS_PAID], 0)
    oi["paid_score"] = oi[C.SATISFACTION].where(oi[C.IS_PAID])
    return oi


def _item_measures(rows: pd.DataFrame) -> dict:
    return {C.N_ITEMS: rows[C.COUNT].sum(), C.N_ITEMS_PAID: rows["paid_count"].sum(),
            C.N_CANCELLED: rows["cancelled_count"].sum(), C.REVENUE: rows["paid_price"].sum(),
            C.SATISFACTION_SUM: rows[C.SATISFACTION].sum(), C.N_REVIEWS: rows[C.SATISFACTION].notna().sum(),
            C.SATISFACTION_SUM_PAID: rows["paid_score"].sum(), C.N_REVIEWS_PAID: rows["paid_score"].notna().sum()}


def _same(stored: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    assert len(stored) == len(expected) > 0
    a = stored.sort_values(keys).reset_index(drop=True)
    e = expected.sort_values(keys).reset_index(drop=True)
    for col in e.columns:
        if pd.api.types.is_numeric_dtype(e[col]):
            np.testing.assert_allclose(a[col].astype(float).fillna(-1), e[col].astype(float).fillna(-1), err_msg=col)
        else:
            assert (a[col] == e[col]).all(), col


def test_menu_rollup_sums_the_items_of_each_menu_food(tiny_engine, items):
    keys = [C.DAILY_FOOD_ID, C.UNIT_PRICE]
    dims = [C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID, C.MAKERS_ID]
    expected = pd.DataFrame([{**dict(zip(keys, key)), **part.iloc[0][dims].to_dict(), **_item_measures(part)}
                             for key, part in items.groupby(keys)])
    _same(_read(tiny_engine, S.mart_menu_orders), expected, keys)


@pytest.mark.parametrize("table, by", [(S.mart_slot_orders, []), (S.mart_slot_cuisine_orders, [C.CUISINE_CODE])],
                         ids=["per-meal", "per-meal-and-cuisine"])
def test_meal_rollup_counts_distinct_orders_and_users_per_spot_meal(tiny_engine, items, table, by):
    key = [*MEAL_KEY, *by]

    def row(values, part):
        paid = part[part[C.IS_PAID]]
        return {**dict(zip(key, values)), C.N_ORDERS: part[C.ORDER_ID].nunique(),
                C.N_ORDERS_PAID: paid[C.ORDER_ID].nunique(), C.N_USERS: part[C.USER_ID].nunique(),
                C.N_USERS_PAID: paid[C.USER_ID].nunique(), **_item_measures(part)}

    rows = items.dropna(subset=by)            # the per-cuisine rollup leaves out foods without a cuisine tag
    assert len(rows) > 0 and (not by or rows[C.CUISINE_CODE].nunique() > 1)
    expected = pd.DataFrame([row(values, part) for values, part in rows.groupby(key)])
    _same(_read(tiny_engine, table), expected, key)


@pytest.mark.parametrize("table, key", [(S.mart_user_activity, list(ACTIVITY_KEY)), (S.mart_user_days, [C.USER_ID])],
                         ids=["per-spot-meal", "per-user"])
def test_day_counts_hold_each_days_items(tiny_engine, items, table, key):
    stored = _read(tiny_engine, table)
    first = items[C.SERVICE_DATE].min()
    assert (stored[C.FIRST_DAY] == first).all()
    width = (items[C.SERVICE_DATE].max() - first).days + 1
    for column in (C.DAY_ITEMS, C.DAY_ITEMS_PAID):            # each ends at its row's last day with items
        assert stored[column].str.len().le(width).all() and not stored[column].str.endswith("0").any()
    assert stored[C.DAY_ITEMS].str.len().eq(width).any()
    offsets = (items[C.SERVICE_DATE] - first).dt.days
    per_day = items.assign(day=offsets).groupby([*key, "day"])[[C.COUNT, "paid_count"]].sum()
    assert per_day[C.COUNT].max() > 1                         # the tiny world has days with several items
    for column, counted in [(C.DAY_ITEMS, C.COUNT), (C.DAY_ITEMS_PAID, "paid_count")]:
        expected = {k: v for k, v in per_day[counted].items() if v > 0}
        got = {}
        for row_key, text in stored.set_index(key)[column].items():
            row_key = row_key if isinstance(row_key, tuple) else (row_key,)
            got.update({(*row_key, day): int(n) for day, n in enumerate(day_counts.decode(text)) if n > 0})
        assert got == expected, column
    peak = per_day[C.COUNT].groupby(level=list(range(len(key)))).max()
    assert stored.set_index(key)[C.PEAK_DAY_ITEMS].sort_index().tolist() == peak.sort_index().tolist()


def test_day_counts_carry_each_users_cohort_week(tiny_engine):
    """The week of the user's first paid order over every group, the same on all of their rows."""
    users_ = _read(tiny_engine, S.mart_user).set_index(C.USER_ID)[C.FIRST_ORDER_DATE]
    first = pd.to_datetime(users_)
    week = first - pd.to_timedelta(first.dt.weekday, unit="D")
    for table in (S.mart_user_days, S.mart_user_activity):
        stored = _read(tiny_engine, table)
        got = pd.to_datetime(stored[C.COHORT_WEEK])
        expected = stored[C.USER_ID].map(week)
        assert got.isna().equals(expected.isna()) and (got.dropna() == expected.dropna()).all(), table.name


@pytest.mark.parametrize("paid_only", [True, False])
@pytest.mark.parametrize("weeks", [1, 3, 6])
@pytest.mark.parametrize("by_group", [False, True], ids=["per-user-strings", "per-spot-meal-strings"])
def test_user_figures_agree_between_day_counts_and_items(tiny_engine, monkeypatch, paid_only, weeks, by_group):
    """The day-count path and the item path are two independent computations of the same figures."""
    options = eda.filter_options(tiny_engine)
    groups = sorted(options.groups)[:2] if by_group else []
    # a range that starts and ends mid-week, so partial first and last weeks are exercised
    filt = OrderFilter(start=options.last_date - timedelta(days=7 * weeks + 2),
                       end=options.last_date - timedelta(days=1),
                       paid_only=paid_only, group_ids=groups)
    assert users._day_count_table(filt) is (S.mart_user_activity if by_group else S.mart_user_days)
    previous = filt.previous_period()

    def figures():
        return (users.active_users(tiny_engine, filt, (filt.start, filt.end), (previous.start, previous.end)),
                users.active_users_by(tiny_engine, filt, C.GROUP_ID), eda.items_per_user(tiny_engine, filt),
                eda.new_vs_returning(tiny_engine, filt), eda.cohort_retention(tiny_engine, filt))

    fast = figures()
    monkeypatch.setattr(users, "_use_day_counts", lambda f: False)
    slow = figures()
    assert fast[0] == slow[0] and fast[0][0] > 0
    pd.testing.assert_frame_equal(fast[1].sort_values(C.GROUP_ID).reset_index(drop=True),
                                  slow[1].sort_values(C.GROUP_ID).reset_index(drop=True), check_dtype=False)
    assert fast[2][C.N_ITEMS].max() > 1
    for a, b in zip(fast[2:], slow[2:]):
        assert len(a) > 0
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)


def test_items_per_user_reads_the_items_when_a_day_count_overflows(tiny_engine, monkeypatch):
    """A day above the strings' largest count is stored capped; the sum must then come from the items."""
    options = eda.filter_options(tiny_engine)
    filt = OrderFilter(start=options.last_date - timedelta(days=20), end=options.last_date, paid_only=False)
    expected = eda.items_per_user(tiny_engine, filt)
    assert users._day_counts(tiny_engine, filt).peak > 1
    monkeypatch.setattr(day_counts, "MAX_COUNT", 1)            # as if the tiny world's peak did not fit
    calls = []
    real = users.day_counts.item_total
    monkeypatch.setattr(users.day_counts, "item_total", lambda *a: calls.append(a) or real(*a))
    pd.testing.assert_frame_equal(eda.items_per_user(tiny_engine, filt), expected)
    assert calls == []
