"""The order EDA filter: URL round trip, tolerance of malformed links, SQL, periods, sanitising."""
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from kurrant_core import codes, schema as S
from kurrant_core.eda import FilterOptions, OrderFilter
from kurrant_core.eda.filters import DEFAULT_DAYS

FULL = OrderFilter(start=date(2026, 10, 1), end=date(2026, 10, 14), group_ids=[3, 1], spot_ids=[7],
                   dining_types=[codes.LUNCH], makers_ids=[5, 2], cuisine_codes=[1], paid_only=False)


def test_query_params_round_trip():
    params = FULL.to_query_params()
    assert all(isinstance(v, str) for v in params.values())
    assert OrderFilter.from_query_params(params) == FULL
    assert OrderFilter().to_query_params() == {}
    assert OrderFilter.from_query_params({}) == OrderFilter()


def test_ids_are_canonical_so_equal_views_have_equal_links():
    a = OrderFilter(group_ids=[3, 1, 3])
    assert a.group_ids == (1, 3)
    assert a == OrderFilter(group_ids=(1, 3)) and hash(a) == hash(OrderFilter(group_ids=(1, 3)))


def test_malformed_params_fall_back_to_defaults_field_by_field():
    got = OrderFilter.from_query_params({"from": "yesterday", "to": "2026-13-40", "group": "1,x",
                                         "dining": "2", "paid": "maybe", "spot": ["9", "4"]})
    assert got.start is None and got.end is None
    assert got.group_ids == ()                 # one bad id spoils only its own field
    assert got.dining_types == (2,)
    assert got.paid_only is True
    assert got.spot_ids == (4,)                # a repeated key: the last value wins


def test_reversed_dates_are_swapped():
    f = OrderFilter(start=date(2026, 10, 9), end=date(2026, 10, 1))
    assert (f.start, f.end) == (date(2026, 10, 1), date(2026, 10, 9))


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    prev = FULL.previous_period()
    assert (prev.start, prev.end) == (date(2026, 9, 17), date(2026, 9, 30))
    assert prev.n_days == FULL.n_days == 14
    assert prev.group_ids == FULL.group_ids


def _sql(clause) -> str:
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_where_clause_applies_what_each_table_has():
    on_items = _sql(FULL.where_clause(S.mart_order_item))
    for column in ("service_date >=", "group_id IN (1, 3)", "spot_id IN (7)", "dining_type IN (2)",
                   "makers_id IN (2, 5)", "cuisine_code IN (1)"):
        assert column in on_items
    assert "is_paid" not in on_items                      # paid_only=False
    assert "is_paid" in _sql(OrderFilter().where_clause(S.mart_order_item))
    on_menu = _sql(FULL.where_clause(S.mart_daily_menu, S.mart_food))
    assert "spot_id" not in on_menu and "is_paid" not in on_menu
    assert "mart_food.cuisine_code IN (1)" in on_menu and "mart_daily_menu.makers_id IN (2, 5)" in on_menu
    assert isinstance(OrderFilter().replace(paid_only=False).where_clause(S.mart_order_item), sa.ColumnElement)


def test_sanitize_defaults_clips_and_drops_unknown_ids():
    options = FilterOptions(first_date=date(2026, 9, 1), last_date=date(2026, 10, 30), groups={1: "A"},
                            spots={}, makers={2: "M"}, cuisines={1: "한식"}, dining_types=dict(codes.DINING_TYPE))
    default = options.sanitize(OrderFilter())
    assert default.end == date(2026, 10, 30) and default.n_days == DEFAULT_DAYS
    clipped = options.sanitize(FULL.replace(start=date(2020, 1, 1), end=date(2030, 1, 1)))
    assert (clipped.start, clipped.end) == (date(2026, 9, 1), date(2026, 10, 30))
    assert clipped.group_ids == (1,) and clipped.spot_ids == () and clipped.makers_ids == (2,)
    short = OrderFilter(end=date(2026, 9, 3))
    assert options.sanitize(short).start == date(2026, 9, 1)   # default range cut at the first date
