"""Day-count strings: the encoding, and the SQL that reads a date range of them, against hand-made
strings whose answers are worked out by hand - on SQLite and MariaDB."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from kurrant_core import day_counts
from kurrant_core.schema import DayString

FIRST = date(2026, 10, 1)


def test_encode_writes_one_character_per_day_and_trims_trailing_empty_days():
    strings = day_counts.encode([np.array([0, 2]), np.array([1]), np.array([3, 1])],
                                [np.array([1, 12]), np.array([3]), np.array([0, 2])], width=6)
    # 12 items -> chr(48 + 12) = '<'; a zero count on the last listed day is trimmed like an empty day
    assert strings == ["10<", "03", "02"]
    assert day_counts.decode("10<").tolist() == [1, 0, 12]


def test_encode_caps_a_day_at_the_largest_count_a_character_holds():
    (text,) = day_counts.encode([np.array([0, 1])], [np.array([day_counts.MAX_COUNT + 5, 2])], width=2)
    assert text == "~2" and day_counts.decode(text).tolist() == [day_counts.MAX_COUNT, 2]


def test_encode_of_no_rows_is_empty():
    assert day_counts.encode([], [], width=3) == []


def test_item_total_refuses_a_peak_it_cannot_sum():
    column = sa.column("s")
    assert day_counts.exact_up_to(day_counts.MAX_COUNT) and not day_counts.exact_up_to(day_counts.MAX_COUNT + 1)
    assert not day_counts.exact_up_to(None)
    with pytest.raises(ValueError, match="at most"):
        day_counts.item_total(column, day_counts.MAX_COUNT + 1)


ROWS = {1: "1020", 2: "0003", 3: "2", 4: "00:1"}     # ':' = 10 items; row 1 ends in '0' only in this test
"""Items per day from FIRST on; e.g. user 4 had 10 items on day 2 and 1 item on day 3."""


@pytest.fixture
def strings(empty_engine):
    table = sa.Table("kl_test_day_counts", sa.MetaData(), sa.Column("user_id", sa.Integer, primary_key=True),
                     sa.Column("days", DayString))
    table.create(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(table.insert(), [{"user_id": k, "days": v} for k, v in ROWS.items()])
    return empty_engine, table


@pytest.mark.parametrize("start, end, expected", [
    (0, 0, {1: 1, 2: 0, 3: 2, 4: 0}),        # the first day
    (0, 3, {1: 3, 2: 3, 3: 2, 4: 11}),       # every day
    (1, 2, {1: 2, 2: 0, 3: 0, 4: 10}),       # days 1-2: row 3 ends before them
    (3, 9, {1: 0, 2: 3, 3: 0, 4: 1}),        # past every string's end
    (-5, 0, {1: 1, 2: 0, 3: 2, 4: 0}),       # a range from before the first day is clipped to it
])
def test_a_window_sums_and_tests_exactly_its_days(strings, start, end, expected):
    engine, table = strings
    days = day_counts.window(table.c.days, FIRST, FIRST + timedelta(days=start), FIRST + timedelta(days=end))
    stmt = (sa.select(table.c.user_id, day_counts.item_total(days, peak=10), day_counts.has_items(days))
            .order_by(table.c.user_id))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    assert {user: int(total) for user, total, _ in rows} == expected
    assert {user: bool(active) for user, _, active in rows} == {user: n > 0 for user, n in expected.items()}


def test_an_empty_window_has_no_items(strings):
    engine, table = strings
    days = day_counts.window(table.c.days, FIRST, FIRST + timedelta(days=3), FIRST + timedelta(days=2))
    assert days is None
    with engine.connect() as conn:
        row = conn.execute(sa.select(day_counts.item_total(days, 10), day_counts.has_items(days))).one()
    assert int(row[0]) == 0 and not row[1]
