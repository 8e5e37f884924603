"""Orders over time: per day (with a 7-day moving average), per week, and by weekday."""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import as_datetime, read_frame
from kurrant_core.eda.sources import items, menu_orders, orders, slot_orders
from kurrant_core.sql_dates import week_start, weekday

MOVING_WINDOW_DAYS = 7


def daily_orders(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Orders and items per service date and dining type, with a 7-calendar-day moving average
    of items (days without service count as zero, so the average smooths the weekly rhythm)."""
    slots = slot_orders(filt)
    day, dining = slots.c[C.SERVICE_DATE], slots.c[C.DINING_TYPE]
    stmt = (sa.select(day.label(C.SERVICE_DATE), dining.label(C.DINING_TYPE),
                      orders(slots, filt).label(C.N_ORDERS), items(slots, filt).label(C.N_ITEMS))
            .group_by(day, dining).having(items(slots, filt) > 0).order_by(day, dining))
    frame = as_datetime(read_frame(engine, stmt), C.SERVICE_DATE)
    if frame.empty:
        return _with_labels(frame.assign(**{C.MOVING_AVG_7D: pd.Series(dtype=float)}))
    calendar = pd.date_range(filt.start or frame[C.SERVICE_DATE].min(),
                             filt.end or frame[C.SERVICE_DATE].max(), freq="D")
    wide = (frame.pivot(index=C.SERVICE_DATE, columns=C.DINING_TYPE, values=C.N_ITEMS)
            .reindex(calendar, fill_value=0).fillna(0))
    moving = wide.rolling(MOVING_WINDOW_DAYS, min_periods=1).mean()
    moving = moving.rename_axis(index=C.SERVICE_DATE).melt(ignore_index=False, value_name=C.MOVING_AVG_7D)
    frame = frame.merge(moving.reset_index(), on=[C.SERVICE_DATE, C.DINING_TYPE], how="left")
    return _with_labels(frame)


def weekly_orders(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Orders and items per week (Monday start) and dining type."""
    slots = slot_orders(filt)
    week, dining = week_start(slots.c[C.SERVICE_DATE]), slots.c[C.DINING_TYPE]
    stmt = (sa.select(week.label(C.WEEK), dining.label(C.DINING_TYPE),
                      orders(slots, filt).label(C.N_ORDERS), items(slots, filt).label(C.N_ITEMS))
            .group_by(week, dining).having(items(slots, filt) > 0).order_by(week, dining))
    return _with_labels(as_datetime(read_frame(engine, stmt), C.WEEK))


def weekday_heatmap(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """Items per weekday (Monday = 0) and dining type, for the weekday x dining-type heatmap."""
    menu = menu_orders(filt)
    day, dining = weekday(menu.c[C.SERVICE_DATE]), menu.c[C.DINING_TYPE]
    stmt = (sa.select(day.label(C.WEEKDAY), dining.label(C.DINING_TYPE), items(menu, filt).label(C.N_ITEMS))
            .group_by(day, dining).having(items(menu, filt) > 0).order_by(day, dining))
    frame = read_frame(engine, stmt)
    frame[C.WEEKDAY_LABEL] = frame[C.WEEKDAY].map(lambda d: codes.label(codes.WEEKDAY, d))
    return _with_labels(frame)


def _with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out[C.DINING_LABEL] = out[C.DINING_TYPE].map(lambda d: codes.label(codes.DINING_TYPE, d))
    return out
