"""Service days of the demo world: weekdays that are not Korean public holidays.

Kurrant delivers to offices, so nothing is served on weekends or public holidays. The holidays are
hard-coded (lunar dates and substitute holidays cannot be computed from the weekday alone) and
cover every date a demo scale can reach, 2025-11 .. 2026-11.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np

KOREAN_HOLIDAYS: frozenset[date] = frozenset({
    date(2025, 12, 25),                                            # 성탄절
    date(2026, 1, 1),                                              # 신정
    date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18),       # 설날 연휴
    date(2026, 3, 2),                                              # 삼일절 대체공휴일 (3/1 is a Sunday)
    date(2026, 5, 1),                                              # 노동절
    date(2026, 5, 5),                                              # 어린이날
    date(2026, 5, 25),                                             # 부처님오신날 대체공휴일 (5/24 Sunday)
    date(2026, 6, 3),                                              # 전국동시지방선거
    date(2026, 8, 17),                                             # 광복절 대체공휴일 (8/15 Saturday)
    date(2026, 9, 24), date(2026, 9, 25),                          # 추석 연휴 (9/26 is a Saturday)
    date(2026, 10, 5),                                             # 개천절 대체공휴일 (10/3 Saturday)
    date(2026, 10, 9),                                             # 한글날
})
"""Korean public holidays (weekdays only matter) from 2025-11-01 to 2026-11-30."""

FIRST_COVERED, LAST_COVERED = date(2025, 11, 1), date(2026, 11, 30)

WEEKDAY_ORDER_FACTOR = np.array([1.0, 1.0, 0.97, 0.94, 0.80, 0.0, 0.0])
"""How much likelier a user is to order on each weekday (Mon..Sun); Fridays are quieter."""


def is_service_day(day: date) -> bool:
    """True on weekdays that are not public holidays."""
    return day.weekday() < 5 and day not in KOREAN_HOLIDAYS


def service_days(start: date, end: date) -> list[date]:
    """Every service day from ``start`` to ``end``, both included."""
    days, day = [], start
    while day <= end:
        if is_service_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def next_service_days(after: date, n: int) -> list[date]:
    """The ``n`` service days that follow ``after`` (the menus already published for next weeks)."""
    days, day = [], after
    while len(days) < n:
        day += timedelta(days=1)
        if is_service_day(day):
            days.append(day)
    return days
