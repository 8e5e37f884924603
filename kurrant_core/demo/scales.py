"""The sizes the demo world comes in, in one place.

``tiny`` is for tests (seconds), ``demo`` for the dashboard (a realistic half year), ``large`` for
benchmarks (a year, millions of order items). Dates are fixed so a seed always gives the same world.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from kurrant_core.errors import KurrantError


@dataclass(frozen=True)
class DemoScale:
    """How big a demo world is and which dates it spans."""

    name: str
    n_groups: int
    n_users: int
    n_foods: int
    n_makers: int
    start: date
    end: date
    makers_per_group: tuple[int, int]     # size range of each group's maker pool
    spots_per_group: tuple[int, int]
    upcoming_days: int = 10               # service days of published menus after ``end``

    @property
    def snapshot(self) -> datetime:
        """The moment the world is observed: the evening of the last service day."""
        return datetime.combine(self.end, time(22, 0))


SCALES: dict[str, DemoScale] = {
    "tiny": DemoScale("tiny", n_groups=3, n_users=60, n_foods=40, n_makers=8,
                      start=date(2026, 9, 21), end=date(2026, 10, 30),
                      makers_per_group=(7, 8), spots_per_group=(1, 2)),
    "demo": DemoScale("demo", n_groups=15, n_users=2_000, n_foods=300, n_makers=40,
                      start=date(2026, 5, 1), end=date(2026, 10, 30),
                      makers_per_group=(10, 14), spots_per_group=(1, 4)),
    "large": DemoScale("large", n_groups=150, n_users=30_000, n_foods=1_500, n_makers=200,
                       start=date(2025, 11, 1), end=date(2026, 10, 30),
                       makers_per_group=(12, 20), spots_per_group=(1, 6)),
}


def get_scale(name: str) -> DemoScale:
    """The scale called ``name``; KurrantError listing the valid names otherwise."""
    try:
        return SCALES[name]
    except KeyError:
        raise KurrantError(f"Unknown demo scale {name!r}; choose one of {', '.join(SCALES)}.") from None
