"""Which daily menus exist, so the comparison page can rank a real day's menu "as the app would".

A date without a menu for the user's group is a state the page must explain (weekends, holidays,
a group that does not order dinner), so :func:`require_menu` raises KurrantError naming the
nearest days that do have one.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.data import MENU_WITHDRAWN_STATUSES
from kurrant_core.errors import KurrantError

NEAREST_SHOWN = 3
_MENU = S.mart_daily_menu.c


def menu_days(engine: sa.Engine, group_id: int | None = None) -> pd.DataFrame:
    """(SERVICE_DATE as ``date``, DINING_TYPE, N_FOODS) of every menu served, by date.

    ``group_id`` None counts every group's menus (the date range the page can offer). Withdrawn
    menu rows (판매중지) are left out, as in the training data.
    """
    n_foods = sa.func.count(sa.distinct(_MENU[C.FOOD_ID])).label(C.N_FOODS)
    query = (sa.select(_MENU[C.SERVICE_DATE], _MENU[C.DINING_TYPE], n_foods)
             .where(_MENU[C.DAILY_FOOD_STATUS].not_in(sorted(MENU_WITHDRAWN_STATUSES)))
             .group_by(_MENU[C.SERVICE_DATE], _MENU[C.DINING_TYPE])
             .order_by(_MENU[C.SERVICE_DATE], _MENU[C.DINING_TYPE]))
    if group_id is not None:
        query = query.where(_MENU[C.GROUP_ID] == int(group_id))
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(query)],
                             columns=[C.SERVICE_DATE, C.DINING_TYPE, C.N_FOODS])
    frame[C.SERVICE_DATE] = [pd.Timestamp(d).date() for d in frame[C.SERVICE_DATE]]
    return frame.astype({C.DINING_TYPE: "int64", C.N_FOODS: "int64"})


def menu_date_range(days: pd.DataFrame) -> tuple[date | None, date | None]:
    """The first and last day with any menu: the date picker's bounds (None, None without menus)."""
    if days.empty:
        return None, None
    return days[C.SERVICE_DATE].min(), days[C.SERVICE_DATE].max()


def default_menu_day(days: pd.DataFrame, dining_type: int = codes.LUNCH,
                     on_or_after: date | None = None) -> date | None:
    """The first day with a ``dining_type`` menu on or after ``on_or_after`` (e.g. a run's cutoff:
    the next day the app would show), else the last such day; None when there is none."""
    served = days.loc[days[C.DINING_TYPE] == int(dining_type), C.SERVICE_DATE]
    if served.empty:
        return None
    if on_or_after is not None and (served >= on_or_after).any():
        return served[served >= on_or_after].min()
    return served.max()


def require_menu(days: pd.DataFrame, service_date: date, dining_type: int, group_name: str) -> int:
    """The number of foods on the group's menu that day and meal; KurrantError when there is none.

    ``days`` is :func:`menu_days` of the user's group; the message names the nearest menu days.
    """
    meal = codes.label(codes.DINING_TYPE, dining_type)
    served = days[days[C.DINING_TYPE] == int(dining_type)]
    hit = served[served[C.SERVICE_DATE] == service_date]
    if not hit.empty:
        return int(hit[C.N_FOODS].iloc[0])
    weekday = codes.WEEKDAY[service_date.weekday()]
    if served.empty:
        raise KurrantError(f"{group_name} has no {meal} menu on any day. Pick another dining type, or "
                           "rank the catalog instead.", key="err.no_menu_ever", group=group_name, meal=meal)
    gap = (pd.to_datetime(served[C.SERVICE_DATE]) - pd.Timestamp(service_date)).abs()
    nearest = sorted(served.loc[gap.nsmallest(NEAREST_SHOWN).index, C.SERVICE_DATE])
    shown = ", ".join(f"{d.isoformat()} ({codes.WEEKDAY[d.weekday()]})" for d in nearest)
    raise KurrantError(f"{group_name} has no {meal} menu on {service_date.isoformat()} ({weekday}). "
                       f"Nearest days with one: {shown}. Pick one of them, or rank the catalog instead.",
                       key="err.no_menu", group=group_name, meal=meal,
                       date=f"{service_date.isoformat()} ({weekday})", nearest=shown)
