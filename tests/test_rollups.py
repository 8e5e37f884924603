"""The rollup marts preprocess stores for the order EDA page: each equals its definition computed
independently in pandas from the item mart, and the EDA answers agree whichever path they take."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import columns as C, eda, schema as S
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


def test_meal_rollup_counts_distinct_orders_and_users_per_spot_meal(tiny_engine, items):
    def row(key, part):
        paid = part[part[C.IS_PAID]]
        return {**dict(zip(MEAL_KEY, key)), C.N_ORDERS: part[C.ORDER_ID].nunique(),
                C.N_ORDERS_PAID: paid[C.ORDER_ID].nunique(), C.N_USERS: part[C.USER_ID].nunique(),
                C.N_USERS_PAID: paid[C.USER_ID].nunique(), **_item_measures(part)}

    expected = pd.DataFrame([row(key, part) for key, part in items.groupby(list(MEAL_KEY))])
    _same(_read(tiny_engine, S.mart_slot_orders), expected, list(MEAL_KEY))


@pytest.mark.parametrize("table, key", [(S.mart_user_activity, list(ACTIVITY_KEY)), (S.mart_user_days, [C.USER_ID])],
                         ids=["per-spot-meal", "per-user"])
def test_day_strings_mark_exactly_the_days_with_items(tiny_engine, items, table, key):
    stored = _read(tiny_engine, table)
    first = items[C.SERVICE_DATE].min()
    assert (stored[C.FIRST_DAY] == first).all()
    width = (items[C.SERVICE_DATE].max() - first).days + 1
    for column in (C.DAYS_ACTIVE, C.DAYS_PAID):            # each ends at its row's last active day
        assert stored[column].str.len().le(width).all() and not stored[column].str.endswith("0").any()
    assert stored[C.DAYS_ACTIVE].str.len().eq(width).any()
    offsets = (items[C.SERVICE_DATE] - first).dt.days
    for column, rows in [(C.DAYS_ACTIVE, items), (C.DAYS_PAID, items[items[C.IS_PAID]])]:
        expected = rows.assign(day=offsets).groupby(key)["day"].agg(lambda d: set(d.tolist()))
        got = stored.set_index(key)[column].map(lambda s: {i for i, ch in enumerate(s) if ch == "1"})
        got = got[got.map(len) > 0]
        assert got.sort_index().to_dict() == expected.sort_index().to_dict(), column
    assert set(stored[C.DAYS_ACTIVE].str.cat()) <= {"0", "1"}


@pytest.mark.parametrize("paid_only", [True, False])
@pytest.mark.parametrize("weeks", [1, 3, 6])
@pytest.mark.parametrize("by_group", [False, True], ids=["per-user-strings", "per-spot-meal-strings"])
def test_user_figures_agree_between_day_strings_and_items(tiny_engine, monkeypatch, paid_only, weeks, by_group):
    """The day-string path and the item path are two independent computations of the same figures."""
    options = eda.filter_options(tiny_engine)
    groups = sorted(options.groups)[:2] if by_group else []
    # a range that starts and ends mid-week, so partial first and last weeks are exercised
    filt = OrderFilter(start=options.last_date - timedelta(days=7 * weeks + 2), end=options.last_date - timedelta(days=1),
                       paid_only=paid_only, group_ids=groups)
    assert users._day_strings(filt) is (S.mart_user_activity if by_group else S.mart_user_days)
    previous = filt.previous_period()
    fast = (users.active_users(tiny_engine, filt, (filt.start, filt.end), (previous.start, previous.end)),
            users.active_users_by(tiny_engine, filt, C.GROUP_ID), eda.new_vs_returning(tiny_engine, filt),
            eda.cohort_retention(tiny_engine, filt))
    monkeypatch.setattr(users, "_use_activity", lambda f: False)
    slow = (users.active_users(tiny_engine, filt, (filt.start, filt.end), (previous.start, previous.end)),
            users.active_users_by(tiny_engine, filt, C.GROUP_ID), eda.new_vs_returning(tiny_engine, filt),
            eda.cohort_retention(tiny_engine, filt))
    assert fast[0] == slow[0] and fast[0][0] > 0
    pd.testing.assert_frame_equal(fast[1].sort_values(C.GROUP_ID).reset_index(drop=True),
                                  slow[1].sort_values(C.GROUP_ID).reset_index(drop=True), check_dtype=False)
    for a, b in zip(fast[2:], slow[2:]):
        assert len(a) > 0
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)
