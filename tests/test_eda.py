"""Every order-EDA aggregate against an independent pandas computation on the tiny world.

The SQL in ``kurrant_core.eda`` groups in the database; here the marts are read whole with pandas
and every figure is recomputed from the rows with plain pandas (different formulas where there is
a choice: Gini from the mean absolute difference, repeats from a self-merge instead of LAG), on
SQLite and on MariaDB (``tiny_engine`` is parametrised over both).
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, eda, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.repeats import LOOKBACK_DAYS
from kurrant_core.errors import KurrantError
from kurrant_core.rollups import refresh_rollups
from kurrant_core.sql_dates import days_between, week_start, weekday

TOL = 1e-9


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def marts(tiny_engine) -> dict[str, pd.DataFrame]:
    """The four marts as pandas frames, dates as datetime64."""
    out = {}
    with tiny_engine.connect() as conn:
        for table in (S.mart_order_item, S.mart_food, S.mart_daily_menu, S.mart_user):
            out[table.name] = pd.read_sql(sa.select(table), conn)
    for name, cols in {"mart_order_item": [C.SERVICE_DATE], "mart_daily_menu": [C.SERVICE_DATE],
                       "mart_user": [C.FIRST_ORDER_DATE]}.items():
        for col in cols:
            out[name][col] = pd.to_datetime(out[name][col])
    oi = out["mart_order_item"]
    oi[C.IS_PAID] = oi[C.IS_PAID].astype(bool)
    oi[C.IS_CANCELLED] = oi[C.IS_CANCELLED].astype(bool)
    return out


@pytest.fixture(scope="module")
def options(tiny_engine):
    return eda.filter_options(tiny_engine)


def test_filter_options_list_what_the_marts_hold(options, marts):
    oi = marts["mart_order_item"]
    assert options.first_date == oi[C.SERVICE_DATE].min().date()
    assert options.last_date == oi[C.SERVICE_DATE].max().date()
    users = marts["mart_user"].dropna(subset=[C.GROUP_ID])
    assert set(options.groups) == set(users[C.GROUP_ID].astype(int))
    assert set(options.makers) == set(marts["mart_food"][C.MAKERS_ID])
    assert options.dining_types == codes.DINING_TYPE
    assert set(options.cuisines) == set(codes.TAG_CATEGORY_CODES[codes.CUISINE])


def test_filter_options_on_an_empty_mart_say_what_to_run(empty_engine):
    with pytest.raises(KurrantError, match="preprocess"):
        eda.filter_options(empty_engine)


def _default(options, oi):
    return options.sanitize(OrderFilter())


def _narrow(options, oi):
    group = int(oi[C.GROUP_ID].value_counts().index[0])
    return options.sanitize(OrderFilter(group_ids=[group], dining_types=[codes.LUNCH], paid_only=False))


def _makers_cuisines(options, oi):
    makers = [int(m) for m in oi[C.MAKERS_ID].value_counts().index[:3]]
    cuisines = [int(c) for c in oi[C.CUISINE_CODE].dropna().value_counts().index[:3]]
    spot = int(oi[C.SPOT_ID].value_counts().index[0])
    return options.sanitize(OrderFilter(start=options.first_date, end=options.last_date, makers_ids=makers,
                                        cuisine_codes=cuisines, spot_ids=[spot]))


def _spot(options, oi):
    return options.sanitize(OrderFilter(spot_ids=[int(oi[C.SPOT_ID].value_counts().index[0])]))


def _makers_all(options, oi):
    makers = [int(m) for m in oi[C.MAKERS_ID].value_counts().index[:4]]
    return options.sanitize(OrderFilter(makers_ids=makers, paid_only=False))


def _one_cuisine(options, oi):
    cuisine = int(oi[C.CUISINE_CODE].dropna().value_counts().index[0])
    return options.sanitize(OrderFilter(start=options.first_date, cuisine_codes=[cuisine], paid_only=False))


# The rollups answer the first two from their stored rows; a spot filter makes the menu rollup,
# makers or several cuisines the meal rollup, run over the filtered items instead - each path
# once; one cuisine reads the per-cuisine meal rollup.
@pytest.fixture(scope="module", params=[_default, _narrow, _makers_cuisines, _spot, _makers_all, _one_cuisine],
                ids=["default", "group-lunch-all", "makers-cuisines-spot", "spot", "makers-all", "one-cuisine"])
def filt(request, options, marts) -> OrderFilter:
    f = request.param(options, marts["mart_order_item"])
    assert len(select_rows(marts["mart_order_item"], f)) > 0, "the filter must select some rows"
    return f


# ------------------------------------------------------------------------------ pandas oracle
def select_rows(oi: pd.DataFrame, f: OrderFilter, start: date | None = None) -> pd.DataFrame:
    """The rows a filter selects, in pandas (``start`` overrides the filter's start)."""
    start = start or f.start
    mask = pd.Series(True, index=oi.index)
    if start:
        mask &= oi[C.SERVICE_DATE] >= pd.Timestamp(start)
    if f.end:
        mask &= oi[C.SERVICE_DATE] <= pd.Timestamp(f.end)
    for values, col in [(f.group_ids, C.GROUP_ID), (f.spot_ids, C.SPOT_ID), (f.dining_types, C.DINING_TYPE),
                        (f.makers_ids, C.MAKERS_ID), (f.cuisine_codes, C.CUISINE_CODE)]:
        if values:
            mask &= oi[col].isin(values)
    if f.paid_only:
        mask &= oi[C.IS_PAID]
    return oi[mask].copy()


def week_of(days: pd.Series) -> pd.Series:
    return days - pd.to_timedelta(days.dt.weekday, unit="D")


MEAL = [C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.SPOT_ID]


def meal_orders(rows: pd.DataFrame) -> int:
    """Orders counted once per meal (service date x dining type; an order has one group and spot)."""
    return int(rows.groupby(MEAL)[C.ORDER_ID].nunique().sum()) if len(rows) else 0


def activity(rows: pd.DataFrame) -> dict[str, float]:
    items = rows[C.COUNT].sum()
    users = rows[C.USER_ID].nunique()
    return {
        C.N_ORDERS: meal_orders(rows), C.N_ITEMS: items, C.N_USERS: users,
        C.REVENUE: rows.loc[rows[C.IS_PAID], C.PRICE].sum(),
        C.ITEMS_PER_USER: items / users if users else math.nan,
        C.CANCEL_RATE: rows.loc[rows[C.IS_CANCELLED], C.COUNT].sum() / items if items else math.nan,
        C.AVG_SATISFACTION: rows[C.SATISFACTION].dropna().mean() if rows[C.SATISFACTION].notna().any() else math.nan,
    }


def assert_close(actual, expected, what: str = "") -> None:
    actual, expected = float(actual), float(expected)
    if math.isnan(expected):
        assert math.isnan(actual), what
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=TOL), what


def assert_frames(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Same rows (matched on ``keys``) and the same values in ``expected``'s columns."""
    assert len(actual) == len(expected)
    a = actual[list(expected.columns)].sort_values(keys).reset_index(drop=True)
    e = expected.sort_values(keys).reset_index(drop=True)
    for col in e.columns:
        if col in keys and pd.api.types.is_datetime64_any_dtype(e[col]):
            assert (pd.to_datetime(a[col]) == e[col]).all(), col
        elif pd.api.types.is_numeric_dtype(e[col]):
            np.testing.assert_allclose(a[col].astype(float), e[col].astype(float), rtol=1e-9, atol=TOL,
                                       err_msg=col)
        else:
            assert a[col].astype(str).tolist() == e[col].astype(str).tolist(), col


# ------------------------------------------------------------------------------ dates helper
def test_date_helpers_match_python_on_each_backend(tiny_engine):
    days = [date(2025, 12, 26) + timedelta(days=i) for i in range(12)] + [date(2026, 2, 28), date(2026, 3, 1)]
    origin = sa.literal(date(2025, 12, 1), sa.Date)
    with tiny_engine.connect() as conn:
        for day in days:
            d = sa.literal(day, sa.Date)
            start, wd, gap = conn.execute(sa.select(week_start(d), weekday(d), days_between(d, origin))).one()
            assert pd.Timestamp(start).date() == day - timedelta(days=day.weekday()), day
            assert wd == day.weekday(), day
            assert gap == (day - date(2025, 12, 1)).days, day


# ------------------------------------------------------------------------------ KPIs and trends
def test_kpis_match_pandas_for_both_periods(tiny_engine, marts, filt):
    oi = marts["mart_order_item"]
    previous = filt.previous_period()
    got = eda.kpi_table(tiny_engine, filt)
    cur = activity(select_rows(oi, filt))
    before = activity(select_rows(oi, previous))
    assert list(got.index) == eda.KPI_ORDER
    for name in eda.KPI_ORDER:
        assert_close(got.loc[name, C.CURRENT], cur[name], f"current {name}")
        if before[C.N_ITEMS]:
            assert_close(got.loc[name, C.PREVIOUS], before[name], f"previous {name}")
    assert_close(got.loc[C.N_ITEMS, C.CHANGE], cur[C.N_ITEMS] - before[C.N_ITEMS])


def test_daily_orders_and_moving_average(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    expected = (rows.groupby([C.SERVICE_DATE, C.DINING_TYPE])
                .agg(**{C.N_ORDERS: (C.ORDER_ID, "nunique"), C.N_ITEMS: (C.COUNT, "sum")}).reset_index())
    start = pd.Timestamp(filt.start)

    def moving(day, dining):   # mean over the calendar days of [day-6, day] inside the range
        first = max(day - pd.Timedelta(days=6), start)
        window = rows[(rows[C.DINING_TYPE] == dining) & rows[C.SERVICE_DATE].between(first, day)]
        return window[C.COUNT].sum() / ((day - first).days + 1)

    expected[C.MOVING_AVG_7D] = [moving(d, t) for d, t in zip(expected[C.SERVICE_DATE], expected[C.DINING_TYPE])]
    got = eda.daily_orders(tiny_engine, filt)
    assert_frames(got, expected, [C.SERVICE_DATE, C.DINING_TYPE])
    assert set(got[C.DINING_LABEL]) <= set(codes.DINING_TYPE.values())


def test_weekly_orders(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    rows[C.WEEK] = week_of(rows[C.SERVICE_DATE])
    expected = pd.DataFrame([{C.WEEK: week, C.DINING_TYPE: dining, C.N_ORDERS: meal_orders(part),
                              C.N_ITEMS: part[C.COUNT].sum()}
                             for (week, dining), part in rows.groupby([C.WEEK, C.DINING_TYPE])])
    assert_frames(eda.weekly_orders(tiny_engine, filt), expected, [C.WEEK, C.DINING_TYPE])


def test_weekday_heatmap(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    rows[C.WEEKDAY] = rows[C.SERVICE_DATE].dt.weekday
    expected = rows.groupby([C.WEEKDAY, C.DINING_TYPE])[C.COUNT].sum().rename(C.N_ITEMS).reset_index()
    got = eda.weekday_heatmap(tiny_engine, filt)
    assert_frames(got, expected, [C.WEEKDAY, C.DINING_TYPE])
    assert (got[C.WEEKDAY_LABEL] == got[C.WEEKDAY].map(codes.WEEKDAY)).all()


# ------------------------------------------------------------------------------ rankings
def _ranked(rows: pd.DataFrame, key: str, by: str, n: int) -> pd.DataFrame:
    rows = rows.assign(**{C.REVENUE: rows[C.PRICE].where(rows[C.IS_PAID], 0)})
    out = (rows.groupby(key, dropna=False).agg(**{C.N_ITEMS: (C.COUNT, "sum"), C.REVENUE: (C.REVENUE, "sum")})
           .reset_index())
    out[C.SHARE] = out[by] / out[by].sum()
    return out.sort_values([by, key], ascending=[False, True]).head(n).reset_index(drop=True)


@pytest.mark.parametrize("by", [C.N_ITEMS, C.REVENUE])
def test_top_foods_makers_and_categories(tiny_engine, marts, filt, by):
    rows = select_rows(marts["mart_order_item"], filt)
    foods = eda.top_foods(tiny_engine, filt, n=7, by=by)
    expected = _ranked(rows, C.FOOD_ID, by, 7)
    assert foods[C.FOOD_ID].tolist() == expected[C.FOOD_ID].tolist()
    assert_frames(foods, expected, [C.FOOD_ID])
    names = marts["mart_food"].set_index(C.FOOD_ID)[C.FOOD_NAME]
    assert foods[C.FOOD_NAME].tolist() == names.loc[expected[C.FOOD_ID]].tolist()

    makers = eda.top_makers(tiny_engine, filt, n=4, by=by)
    expected = _ranked(rows, C.MAKERS_ID, by, 4)
    assert makers[C.MAKERS_ID].tolist() == expected[C.MAKERS_ID].tolist()
    assert_frames(makers, expected, [C.MAKERS_ID])

    categories = eda.top_categories(tiny_engine, filt, n=20, by=by)
    expected = _ranked(rows, C.CUISINE_CODE, by, 20)
    assert_close(categories[C.SHARE].sum(), 1.0)
    got = categories.assign(**{C.CUISINE_CODE: categories[C.CUISINE_CODE].fillna(-1)})
    assert_frames(got, expected.assign(**{C.CUISINE_CODE: expected[C.CUISINE_CODE].fillna(-1)}),
                  [C.CUISINE_CODE])
    labelled = categories.dropna(subset=[C.CUISINE_CODE])
    assert (labelled[C.CUISINE_LABEL] == labelled[C.CUISINE_CODE].astype(int).map(codes.FOOD_TAG)).all()


# ------------------------------------------------------------------------------ concentration
def _gini(values: np.ndarray) -> float:
    """Gini from the mean absolute difference (independent of the rank formula the SQL uses)."""
    x = np.asarray(values, dtype=float)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())


def _top_share(values: np.ndarray) -> float:
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    return x[:math.ceil(len(x) / 10)].sum() / x.sum()


def test_concentration_lorenz_gini_and_top10(tiny_engine, marts, filt):
    per_food = select_rows(marts["mart_order_item"], filt).groupby(C.FOOD_ID)[C.COUNT].sum().to_numpy()
    summary = eda.concentration_summary(tiny_engine, filt)
    assert summary[C.N_FOODS] == len(per_food)
    assert_close(summary[C.GINI], _gini(per_food), "gini")
    assert_close(summary[C.TOP10_SHARE], _top_share(per_food), "top 10 %")

    curve = eda.lorenz_curve(tiny_engine, filt)
    x = np.sort(per_food)
    np.testing.assert_allclose(curve[C.FOOD_SHARE], np.r_[0, np.arange(1, len(x) + 1) / len(x)])
    np.testing.assert_allclose(curve[C.ITEM_SHARE], np.r_[0, np.cumsum(x) / x.sum()])
    area = np.trapezoid(curve[C.ITEM_SHARE], curve[C.FOOD_SHARE])
    assert_close(1 - 2 * area, _gini(per_food), "gini from the curve's area")


def test_weekly_concentration(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    rows[C.WEEK] = week_of(rows[C.SERVICE_DATE])
    got = eda.weekly_concentration(tiny_engine, filt).set_index(C.WEEK)
    weeks = sorted(rows[C.WEEK].unique())
    assert list(got.index) == weeks
    for week in weeks:
        per_food = rows[rows[C.WEEK] == week].groupby(C.FOOD_ID)[C.COUNT].sum().to_numpy()
        assert_close(got.loc[week, C.GINI], _gini(per_food), f"gini {week}")
        assert_close(got.loc[week, C.TOP10_SHARE], _top_share(per_food), f"top {week}")
        assert got.loc[week, C.N_FOODS] == len(per_food)


# ------------------------------------------------------------------------------ menu take rate
def test_menu_take_rate(tiny_engine, marts, filt):
    menu, food = marts["mart_daily_menu"], marts["mart_food"]
    menu = menu.merge(food[[C.FOOD_ID, C.CUISINE_CODE, C.FOOD_NAME]], on=C.FOOD_ID)
    keep = menu[C.SERVICE_DATE].between(pd.Timestamp(filt.start), pd.Timestamp(filt.end))
    for values, col in [(filt.group_ids, C.GROUP_ID), (filt.dining_types, C.DINING_TYPE),
                        (filt.makers_ids, C.MAKERS_ID), (filt.cuisine_codes, C.CUISINE_CODE)]:
        if values:
            keep &= menu[col].isin(values)
    menu = menu[keep]
    rows = select_rows(marts["mart_order_item"], filt)
    slot = [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
    chosen = rows.groupby(C.DAILY_FOOD_ID)[C.COUNT].sum().rename(C.N_ITEMS)
    slot_items = rows.groupby(slot)[C.COUNT].sum().rename("slot_items")
    m = menu.join(chosen, on=C.DAILY_FOOD_ID).join(slot_items, on=slot).fillna({C.N_ITEMS: 0, "slot_items": 0})
    expected = m.groupby(C.FOOD_ID).agg(**{
        C.TIMES_OFFERED: (C.DAILY_FOOD_ID, "size"),
        C.TIMES_CHOSEN: (C.N_ITEMS, lambda s: int((s > 0).sum())),
        C.N_ITEMS: (C.N_ITEMS, "sum"), "slot_items": ("slot_items", "sum")}).reset_index()
    expected[C.PICK_RATE] = expected[C.TIMES_CHOSEN] / expected[C.TIMES_OFFERED]
    expected[C.TAKE_RATE] = expected[C.N_ITEMS] / expected["slot_items"].where(expected["slot_items"] > 0)
    got = eda.menu_take_rate(tiny_engine, filt)
    assert_frames(got.fillna({C.TAKE_RATE: -1}), expected.drop(columns="slot_items").fillna({C.TAKE_RATE: -1}),
                  [C.FOOD_ID])
    assert (got[C.TIMES_CHOSEN] <= got[C.TIMES_OFFERED]).all()


# ------------------------------------------------------------------------------ repeats
def test_repeat_shares_and_gap_distribution(tiny_engine, marts, filt):
    oi = marts["mart_order_item"]
    history = oi[oi[C.IS_PAID]]         # had it before: a paid item of the food, at any meal, whatever the filter
    current = select_rows(oi, filt)
    pairs = current.reset_index(names="row").merge(
        history[[C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.ORDER_ITEM_ID]], on=[C.USER_ID, C.FOOD_ID],
        suffixes=("", "_before"))
    earlier = (pairs[C.SERVICE_DATE + "_before"] < pairs[C.SERVICE_DATE]) | (
        (pairs[C.SERVICE_DATE + "_before"] == pairs[C.SERVICE_DATE])
        & (pairs[C.ORDER_ITEM_ID + "_before"] < pairs[C.ORDER_ITEM_ID]))
    pairs = pairs[earlier]
    gap = (pairs[C.SERVICE_DATE] - pairs[C.SERVICE_DATE + "_before"]).dt.days
    last_gap = gap.groupby(pairs["row"]).min()            # gap to the latest earlier order
    counts = current[C.COUNT]
    total = counts.sum()

    gaps = eda.repeat_gaps(tiny_engine, filt)
    shares = eda.repeat_shares(gaps)
    for name, window in [(C.REPEAT_7D_SHARE, 7), (C.REPEAT_30D_SHARE, 30)]:
        repeated = last_gap[last_gap <= window].index
        assert_close(shares[name], counts.loc[repeated].sum() / total, name)

    within = last_gap[last_gap <= LOOKBACK_DAYS]
    expected = (pd.DataFrame({C.DAYS_BETWEEN: within, C.N_REPEATS: counts.loc[within.index]})
                .groupby(C.DAYS_BETWEEN)[C.N_REPEATS].sum().reset_index())
    assert_frames(eda.repeat_gap_distribution(gaps), expected, [C.DAYS_BETWEEN])
    assert gaps[C.N_ITEMS].sum() == total


def test_repeat_shares_are_nan_without_items():
    empty = pd.DataFrame({C.DAYS_BETWEEN: pd.Series([], dtype="Int64"), C.N_ITEMS: pd.Series([], dtype=int)})
    assert eda.repeat_shares(empty).isna().all()


# ------------------------------------------------------------------------------ users
def test_items_per_user_distribution(tiny_engine, marts, filt):
    per_user = select_rows(marts["mart_order_item"], filt).groupby(C.USER_ID)[C.COUNT].sum()
    expected = per_user.value_counts().rename_axis(C.N_ITEMS).rename(C.N_USERS).reset_index()
    assert_frames(eda.items_per_user(tiny_engine, filt), expected, [C.N_ITEMS])


def _active_weeks(marts, filt) -> pd.DataFrame:
    rows = select_rows(marts["mart_order_item"], filt)
    rows[C.WEEK] = week_of(rows[C.SERVICE_DATE])
    active = rows[[C.USER_ID, C.WEEK]].drop_duplicates()
    return active.merge(marts["mart_user"][[C.USER_ID, C.FIRST_ORDER_DATE]], on=C.USER_ID, how="left")


def test_new_vs_returning_users(tiny_engine, marts, filt):
    active = _active_weeks(marts, filt)
    active["returning"] = active[C.FIRST_ORDER_DATE] < active[C.WEEK]      # NaT compares False: new
    expected = active.groupby(C.WEEK)["returning"].agg(
        **{C.NEW_USERS: lambda r: int((~r).sum()), C.RETURNING_USERS: "sum"}).reset_index()
    got = eda.new_vs_returning(tiny_engine, filt)
    assert_frames(got, expected, [C.WEEK])
    assert got[[C.NEW_USERS, C.RETURNING_USERS]].to_numpy().sum() == len(active)


def test_cohort_retention(tiny_engine, marts, options):
    # the whole span, so that the tiny world's first orders fall inside it and cohorts exist
    filt = OrderFilter(start=options.first_date, end=options.last_date)
    active = _active_weeks(marts, filt)
    cohort = active[week_of(active[C.FIRST_ORDER_DATE]) == active[C.WEEK]][[C.USER_ID, C.WEEK]]
    joined = cohort.rename(columns={C.WEEK: C.COHORT_WEEK}).merge(active, on=C.USER_ID)
    joined = joined[joined[C.WEEK] >= joined[C.COHORT_WEEK]]
    joined[C.WEEKS_SINCE] = (joined[C.WEEK] - joined[C.COHORT_WEEK]).dt.days // 7
    expected = joined.groupby([C.COHORT_WEEK, C.WEEKS_SINCE]).size().rename(C.N_USERS).reset_index()
    size = cohort.groupby(C.WEEK).size()
    expected[C.RETENTION] = expected[C.N_USERS] / expected[C.COHORT_WEEK].map(size)
    got = eda.cohort_retention(tiny_engine, filt)
    assert len(got) > 1
    assert_frames(got, expected, [C.COHORT_WEEK, C.WEEKS_SINCE])
    assert (got.loc[got[C.WEEKS_SINCE] == 0, C.RETENTION] == 1).all()
    matrix = eda.retention_matrix(got)
    assert matrix.shape == (got[C.COHORT_WEEK].nunique(), got[C.WEEKS_SINCE].nunique())


# ------------------------------------------------------------------------------ satisfaction, prices
def test_satisfaction_by_category_and_maker(tiny_engine, marts, filt):
    reviewed = select_rows(marts["mart_order_item"], filt).dropna(subset=[C.SATISFACTION])
    for fn, key in [(eda.satisfaction_by_category, C.CUISINE_CODE), (eda.satisfaction_by_maker, C.MAKERS_ID)]:
        expected = (reviewed.groupby(key, dropna=False)[C.SATISFACTION]
                    .agg(**{C.AVG_SATISFACTION: "mean", C.N_REVIEWS: "size"}).reset_index())
        got = fn(tiny_engine, filt)
        assert_frames(got.fillna({key: -1}), expected.fillna({key: -1}), [key])
        ranked_by = C.ADJUSTED_SATISFACTION if key == C.MAKERS_ID else C.AVG_SATISFACTION
        assert got[ranked_by].is_monotonic_decreasing


def test_maker_satisfaction_needs_evidence_to_leave_the_overall_mean():
    """A maker with 3 five-star reviews no longer outranks one with 200 reviews averaging 4.6."""
    frame = pd.DataFrame({C.MAKERS_ID: [1, 2, 3], C.AVG_SATISFACTION: [5.0, 4.6, 3.0],
                          C.N_REVIEWS: [3, 200, 97]})
    # overall = (15 + 920 + 291) / 300 = 4.0866...; m = 20
    overall = (15 + 920 + 291) / 300
    got = eda.shrink_satisfaction(frame, prior_reviews=20)[C.ADJUSTED_SATISFACTION].tolist()
    assert got == pytest.approx([(15 + 20 * overall) / 23, (920 + 20 * overall) / 220, (291 + 20 * overall) / 117])
    assert got[1] > got[0] > got[2]


def test_price_distribution(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    rows[C.UNIT_PRICE] = (rows[C.PRICE] // rows[C.COUNT]) // 1000 * 1000
    expected = rows.groupby(C.UNIT_PRICE)[C.COUNT].sum().rename(C.N_ITEMS).reset_index()
    assert_frames(eda.price_distribution(tiny_engine, filt), expected, [C.UNIT_PRICE])


# ------------------------------------------------------------------------------ groups, drill-down
def test_group_comparison(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    expected = pd.DataFrame([{C.GROUP_ID: g, **activity(part), C.N_FOODS: part[C.FOOD_ID].nunique()}
                             for g, part in rows.groupby(C.GROUP_ID)])
    got = eda.group_comparison(tiny_engine, filt)
    assert_frames(got.fillna(-1), expected.fillna(-1), [C.GROUP_ID])
    names = marts["mart_user"].dropna(subset=[C.GROUP_ID]).groupby(C.GROUP_ID)[C.GROUP_NAME].max()
    assert got[C.GROUP_NAME].tolist() == got[C.GROUP_ID].map(names).tolist()
    assert got[C.N_ITEMS].is_monotonic_decreasing


def test_food_drilldown(tiny_engine, marts, filt):
    rows = select_rows(marts["mart_order_item"], filt)
    food = int(rows[C.FOOD_ID].value_counts().index[0])
    mine = rows[rows[C.FOOD_ID] == food].copy()
    mine[C.WEEK] = week_of(mine[C.SERVICE_DATE])
    trend = mine.groupby(C.WEEK).agg(**{C.N_ITEMS: (C.COUNT, "sum"), C.N_USERS: (C.USER_ID, "nunique")}).reset_index()
    assert_frames(eda.food_weekly_trend(tiny_engine, filt, food), trend, [C.WEEK])
    groups = pd.DataFrame([{C.GROUP_ID: g, C.N_ORDERS: meal_orders(part), C.N_ITEMS: part[C.COUNT].sum(),
                            C.N_USERS: part[C.USER_ID].nunique()} for g, part in mine.groupby(C.GROUP_ID)])
    assert_frames(eda.food_groups(tiny_engine, filt, food), groups, [C.GROUP_ID])
    reviews = mine[C.SATISFACTION].dropna().astype(int).value_counts().rename_axis(C.SATISFACTION)
    expected = reviews.rename(C.N_REVIEWS).reset_index()
    got = eda.food_satisfaction(tiny_engine, filt, food)
    assert_frames(got, expected, [C.SATISFACTION])


# ------------------------------------------------------------------------------ empty results
def test_a_filter_matching_nothing_gives_empty_results_not_errors(tiny_engine, options):
    nothing = OrderFilter(start=options.first_date, end=options.last_date, group_ids=[-1])
    kpi = eda.kpi_table(tiny_engine, nothing)
    assert kpi.loc[C.N_ITEMS, C.CURRENT] == 0 and math.isnan(kpi.loc[C.ITEMS_PER_USER, C.CURRENT])
    assert eda.daily_orders(tiny_engine, nothing).empty
    assert eda.concentration_summary(tiny_engine, nothing)[C.N_FOODS] == 0
    assert eda.lorenz_curve(tiny_engine, nothing).shape[0] == 1
    assert eda.repeat_shares(eda.repeat_gaps(tiny_engine, nothing)).isna().all()
    assert eda.cohort_retention(tiny_engine, nothing).empty


# ------------------------------------------------------------------------------ hand-computed cases
def _item(item_id: int, user: int, food: int, day: date, count: int = 1, paid: bool = True) -> dict:
    return {C.ORDER_ITEM_ID: item_id, C.ORDER_ID: item_id, C.USER_ID: user, C.GROUP_ID: 1, C.SPOT_ID: 1,
            C.DAILY_FOOD_ID: item_id, C.FOOD_ID: food, C.MAKERS_ID: 1, C.CUISINE_CODE: 1,
            C.SERVICE_DATE: day, C.DINING_TYPE: codes.LUNCH, C.COUNT: count, C.PRICE: 7000 * count,
            C.DISCOUNTED_PRICE: 0, C.ORDER_STATUS: 5 if paid else 7, C.IS_PAID: paid, C.IS_CANCELLED: not paid,
            C.ORDERED_AT: pd.Timestamp(day).to_pydatetime(), C.SATISFACTION: None}


def test_hand_computed_concentration_and_repeats(empty_engine):
    d = date(2026, 10, 5)                                   # a Monday
    later = [d + timedelta(days=n) for n in (2, 11, 14)]
    rows = [
        _item(1, 1, 1, d), _item(2, 2, 2, d), _item(3, 3, 3, d),               # foods 1-3: one item each
        # user 9 has food 4 on d, d+2 (gap 2), d+11 (gap 9), then on d+14 two rows: 2 items (gap 3), 1 item (gap 0)
        _item(4, 9, 4, d), _item(5, 9, 4, later[0]), _item(6, 9, 4, later[1]),
        _item(7, 9, 4, later[2], count=2), _item(8, 9, 4, later[2]),
        _item(9, 9, 1, d + timedelta(days=1), paid=False),                     # cancelled: not "paid only"
    ]
    with empty_engine.begin() as conn:
        conn.execute(S.mart_order_item.insert(), rows)
        refresh_rollups(conn)                   # as preprocess does after building the item mart
    filt = OrderFilter(start=d, end=d + timedelta(days=14))

    # items per food 1, 1, 1, 6 (total 9): Gini = 2·(1+2+3+4·6)/(4·9) − 5/4 = 5/12; top 10 % = 1 food = 6/9
    summary = eda.concentration_summary(empty_engine, filt)
    assert summary[C.N_FOODS] == 4
    assert summary[C.GINI] == pytest.approx(5 / 12)
    assert summary[C.TOP10_SHARE] == pytest.approx(6 / 9)
    weekly = eda.weekly_concentration(empty_engine, filt)
    assert weekly[C.N_ITEMS].tolist() == [5, 1, 3]           # weeks starting d, d+7, d+14
    assert weekly.loc[0, C.GINI] == pytest.approx(2 * (1 + 2 + 3 + 4 * 2) / (4 * 5) - 5 / 4)   # 1,1,1,2
    assert weekly.loc[1, C.GINI] == pytest.approx(0.0)       # a single food
    assert weekly.loc[0, C.TOP10_SHARE] == pytest.approx(2 / 5)

    # repeats among 9 items: gap 2 (1 item), 9 (1), 3 (2), 0 (1); the rest are first times
    gaps = eda.repeat_gaps(empty_engine, filt)
    shares = eda.repeat_shares(gaps)
    assert shares[C.REPEAT_7D_SHARE] == pytest.approx(4 / 9)
    assert shares[C.REPEAT_30D_SHARE] == pytest.approx(5 / 9)
    distribution = eda.repeat_gap_distribution(gaps)
    assert dict(zip(distribution[C.DAYS_BETWEEN], distribution[C.N_REPEATS])) == {0: 1, 2: 1, 3: 2, 9: 1}

    kpi = eda.kpi_table(empty_engine, filt.replace(paid_only=False))
    assert kpi.loc[C.N_ITEMS, C.CURRENT] == 10
    assert kpi.loc[C.REVENUE, C.CURRENT] == 9 * 7000         # the cancelled item earns nothing
    assert kpi.loc[C.CANCEL_RATE, C.CURRENT] == pytest.approx(1 / 10)
    assert kpi.loc[C.N_USERS, C.CURRENT] == 4
    assert kpi.loc[C.ITEMS_PER_USER, C.CURRENT] == pytest.approx(10 / 4)
    assert kpi.loc[C.N_ITEMS, C.PREVIOUS] == 0
