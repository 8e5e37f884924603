"""What the sidebar filters can choose from, and how a filter from a URL is made to fit it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.eda.filters import DEFAULT_DAYS, OrderFilter
from kurrant_core.errors import KurrantError


@dataclass(frozen=True)
class FilterOptions:
    """The data's date span and the id -> name choices of each filter."""

    first_date: date
    last_date: date
    groups: dict[int, str]
    spots: dict[int, str]
    makers: dict[int, str]
    cuisines: dict[int, str]
    dining_types: dict[int, str]

    def sanitize(self, filt: OrderFilter) -> OrderFilter:
        """``filt`` with unknown ids dropped and dates clipped to the data (default: the last
        :data:`DEFAULT_DAYS` days), so widgets never receive values they cannot show."""
        end = _clip(filt.end or self.last_date, self.first_date, self.last_date)
        default_start = max(self.first_date, end - timedelta(days=DEFAULT_DAYS - 1))
        start = _clip(filt.start or default_start, self.first_date, end)
        return filt.replace(
            start=start, end=end,
            group_ids=[g for g in filt.group_ids if g in self.groups],
            spot_ids=[s for s in filt.spot_ids if s in self.spots],
            dining_types=[d for d in filt.dining_types if d in self.dining_types],
            makers_ids=[m for m in filt.makers_ids if m in self.makers],
            cuisine_codes=[c for c in filt.cuisine_codes if c in self.cuisines])


def _clip(day: date, low: date, high: date) -> date:
    return min(max(day, low), high)


def filter_options(engine: sa.Engine) -> FilterOptions:
    """The filter choices. Call ``check_ready`` first; an empty mart still raises KurrantError."""
    oi, user, food = S.mart_order_item, S.mart_user, S.mart_food
    with engine.connect() as conn:
        day = oi.c[C.SERVICE_DATE]      # two scalar subqueries: SQLite reads MIN or MAX off an index only alone
        first, last = conn.execute(sa.select(sa.select(sa.func.min(day)).scalar_subquery(),
                                             sa.select(sa.func.max(day)).scalar_subquery())).one()
        if first is None:
            raise KurrantError("The DE database has no preprocessed orders. Run "
                               "`python -m kurrant_core preprocess` after loading data.", key="err.eda_empty")
        groups = _names(conn, user.c[C.GROUP_ID], user.c[C.GROUP_NAME])
        spots = _names(conn, user.c[C.SPOT_ID], user.c[C.SPOT_NAME])
        makers = _names(conn, food.c[C.MAKERS_ID], food.c[C.MAKERS_NAME])
    cuisines = {code: codes.FOOD_TAG[code] for code in codes.TAG_CATEGORY_CODES[codes.CUISINE]}
    return FilterOptions(first_date=pd.Timestamp(first).date(), last_date=pd.Timestamp(last).date(),
                         groups=groups, spots=spots, makers=makers, cuisines=cuisines,
                         dining_types=dict(codes.DINING_TYPE))


def _names(conn: sa.Connection, id_col: sa.Column, name_col: sa.Column) -> dict[int, str]:
    rows = conn.execute(sa.select(id_col, sa.func.max(name_col)).where(id_col.is_not(None))
                        .group_by(id_col).order_by(sa.func.max(name_col), id_col)).all()
    return {int(i): str(name) if name is not None else f"#{i}" for i, name in rows}
