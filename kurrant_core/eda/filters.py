"""The order EDA filter: one immutable value that every query applies and a URL can carry.

A view of the page is fully described by an :class:`OrderFilter`; it round-trips through the URL
query string (so a link reproduces the view) and turns itself into a SQLAlchemy WHERE clause for
whichever mart it is applied to. Malformed URL values fall back to defaults, field by field,
because a hand-edited link must never produce a traceback.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from kurrant_core import columns as C

DEFAULT_DAYS = 28
"""Length of the default date range, ending at the last service date in the data."""

# URL query-string keys (short, stable: links in chat threads keep working)
PARAM_START, PARAM_END = "from", "to"
PARAM_GROUPS, PARAM_SPOTS, PARAM_DINING = "group", "spot", "dining"
PARAM_MAKERS, PARAM_CUISINES, PARAM_PAID = "maker", "cuisine", "paid"
PAID_ALL = "all"
QUERY_KEYS = frozenset({PARAM_START, PARAM_END, PARAM_GROUPS, PARAM_SPOTS, PARAM_DINING, PARAM_MAKERS,
                        PARAM_CUISINES, PARAM_PAID})
"""Every URL key the filter owns; other keys (a page's open tab) are left alone."""

# filter field -> (URL key, mart column it restricts)
_ID_FIELDS: dict[str, tuple[str, str]] = {
    "group_ids": (PARAM_GROUPS, C.GROUP_ID),
    "spot_ids": (PARAM_SPOTS, C.SPOT_ID),
    "dining_types": (PARAM_DINING, C.DINING_TYPE),
    "makers_ids": (PARAM_MAKERS, C.MAKERS_ID),
    "cuisine_codes": (PARAM_CUISINES, C.CUISINE_CODE),
}


@dataclass(frozen=True)
class OrderFilter:
    """Which ordered items a view looks at. Empty tuples mean "all"; None dates mean "open"."""

    start: date | None = None
    end: date | None = None
    group_ids: tuple[int, ...] = ()
    spot_ids: tuple[int, ...] = ()
    dining_types: tuple[int, ...] = ()
    makers_ids: tuple[int, ...] = ()
    cuisine_codes: tuple[int, ...] = ()
    paid_only: bool = True

    def __post_init__(self) -> None:
        for name in _ID_FIELDS:       # accept any iterable, keep a canonical sorted tuple
            object.__setattr__(self, name, tuple(sorted({int(v) for v in getattr(self, name)})))
        if self.start and self.end and self.start > self.end:
            start, end = self.end, self.start
            object.__setattr__(self, "start", start)
            object.__setattr__(self, "end", end)

    # ------------------------------------------------------------------ URL round trip
    def to_query_params(self) -> dict[str, str]:
        """The filter as URL query parameters; defaults are left out so links stay short."""
        params: dict[str, str] = {}
        if self.start:
            params[PARAM_START] = self.start.isoformat()
        if self.end:
            params[PARAM_END] = self.end.isoformat()
        for name, (key, _) in _ID_FIELDS.items():
            values = getattr(self, name)
            if values:
                params[key] = ",".join(str(v) for v in values)
        if not self.paid_only:
            params[PARAM_PAID] = PAID_ALL
        return params

    @classmethod
    def from_query_params(cls, params: Mapping[str, str | list[str]]) -> OrderFilter:
        """Parse what :meth:`to_query_params` wrote; anything malformed reads as its default."""
        def last(key: str) -> str | None:
            value = params.get(key)
            if isinstance(value, (list, tuple)):
                value = value[-1] if value else None
            return None if value is None else str(value)

        ids = {name: _parse_ids(last(key)) for name, (key, _) in _ID_FIELDS.items()}
        return cls(start=_parse_date(last(PARAM_START)), end=_parse_date(last(PARAM_END)),
                   paid_only=last(PARAM_PAID) != PAID_ALL, **ids)

    # ------------------------------------------------------------------ periods
    @property
    def n_days(self) -> int:
        """Days in the date range, both ends included (the range must be closed)."""
        self._require_dates()
        return (self.end - self.start).days + 1

    def previous_period(self) -> OrderFilter:
        """The same filter over the equally long period that ends the day before ``start``."""
        self._require_dates()
        end = self.start - timedelta(days=1)
        return dataclasses.replace(self, start=end - timedelta(days=self.n_days - 1), end=end)

    def replace(self, **changes) -> OrderFilter:
        """A copy with some fields changed (``filt.replace(start=...)``)."""
        return dataclasses.replace(self, **changes)

    def _require_dates(self) -> None:
        if self.start is None or self.end is None:
            raise ValueError("this needs a closed date range; call FilterOptions.sanitize first")

    # ------------------------------------------------------------------ SQL
    def where_clause(self, *tables: sa.FromClause) -> sa.ColumnElement[bool]:
        """The filter as one boolean SQL expression over ``tables``.

        Each condition goes to the first table that has its column; a condition no table can
        express is skipped (``mart_daily_menu`` has no spot or paid flag: menus are per group).
        """
        def column(name: str) -> sa.ColumnElement | None:
            for table in tables:
                if name in table.c:
                    return table.c[name]
            return None

        conditions: list[sa.ColumnElement[bool]] = []
        day = column(C.SERVICE_DATE)
        if day is not None and self.start:
            conditions.append(day >= self.start)
        if day is not None and self.end:
            conditions.append(day <= self.end)
        for name, (_, col_name) in _ID_FIELDS.items():
            values, col = getattr(self, name), column(col_name)
            if values and col is not None:
                conditions.append(col.in_(values))
        paid = column(C.IS_PAID)
        if self.paid_only and paid is not None:
            conditions.append(paid == sa.true())
        return sa.and_(sa.true(), *conditions)


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_ids(value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        return ()

