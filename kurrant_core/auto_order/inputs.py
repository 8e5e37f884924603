"""What the planner reads for one service date and meal: menu, users, orders so far, capacities.

Everything comes from the DE (marts and the raw capacity tables) in a few set-based queries; the
planner itself never touches the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.auto_order.settings import AutoOrderSetting, read_settings
from kurrant_core.data import MENU_WITHDRAWN_STATUSES
from kurrant_core.errors import KurrantError

DEADLINE = time(17, 0)
"""Menus close (주문마감) at 17:00 the day before service: the default "as of" of a plan."""
PREVIEW, REPLAY = "preview", "replay"
MODES = (PREVIEW, REPLAY)
RECENT_LOOKBACK_DAYS = 14


class PlanInputError(KurrantError):
    """A date, meal or setting the planner cannot plan for."""


def default_as_of(service_date: date) -> datetime:
    """The order deadline of a service date: 17:00 the day before."""
    return datetime.combine(service_date - timedelta(days=1), DEADLINE)


@dataclass(frozen=True)
class PlanInputs:
    """One date and meal: who to plan for, what they can have, what is already taken."""

    service_date: date
    dining_type: int
    as_of: datetime
    mode: str
    users: pd.DataFrame          # USER_ID, GROUP_ID, ALLERGY_TAGS (+ the setting per user)
    settings: dict[int, AutoOrderSetting]
    menu: pd.DataFrame           # GROUP_ID, DAILY_FOOD_ID, FOOD_ID, MAKERS_ID, PRICE, ALLERGY_TAGS, names
    food_room: pd.Series         # FOOD_ID -> portions left (missing: no limit)
    maker_room: pd.Series        # MAKERS_ID -> portions left (missing: no limit)
    ordered: pd.DataFrame        # planned users' own orders of this meal: USER_ID, FOOD_ID
    recent: pd.DataFrame         # USER_ID, FOOD_ID eaten on the user's last service days before
    n_already_ordered: int       # opted-in users who ordered themselves (preview: not planned)


def parse_service_date(value) -> date:
    try:
        return value if isinstance(value, date) and not isinstance(value, datetime) else pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise PlanInputError(f"The service date must look like 2026-11-02, not {value!r}.",
                             key="err.bad_date", value=value) from None


def _dining_choices() -> str:
    return ", ".join(f"{code} ({label})" for code, label in sorted(codes.DINING_TYPE.items()))


def check_dining_type(value) -> int:
    try:
        dining_type = int(value)
    except (TypeError, ValueError):
        dining_type = -1
    if dining_type not in codes.DINING_TYPE:
        raise PlanInputError(f"The dining type must be one of {sorted(codes.DINING_TYPE)} "
                             f"({', '.join(codes.DINING_TYPE.values())}), not {value!r}.", key="err.bad_dining",
                             choices=_dining_choices(), value=value)
    return dining_type


def read_menu(conn: sa.Connection, service_date: date, dining_type: int) -> pd.DataFrame:
    """Every group's menu of that meal (withdrawn foods left out), with the food's allergen tags."""
    m, f = S.mart_daily_menu.c, S.mart_food.c
    query = (sa.select(m[C.GROUP_ID], m[C.DAILY_FOOD_ID], m[C.FOOD_ID], m[C.MAKERS_ID], m[C.PRICE],
                       f[C.ALLERGY_TAGS], f[C.FOOD_NAME], f[C.MAKERS_NAME])
             .join(S.mart_food, f[C.FOOD_ID] == m[C.FOOD_ID])
             .where(m[C.SERVICE_DATE] == service_date, m[C.DINING_TYPE] == dining_type,
                    m[C.DAILY_FOOD_STATUS].not_in(sorted(MENU_WITHDRAWN_STATUSES)))
             .order_by(m[C.GROUP_ID], m[C.DAILY_FOOD_ID]))
    return pd.read_sql(query, conn)


def _orders_of_meal(conn: sa.Connection, service_date: date, dining_type: int) -> pd.DataFrame:
    """Every paid item of that meal with when it was ordered (capacity counts those before the
    "as of"; a replay compares with all of them)."""
    o = S.mart_order_item.c
    query = (sa.select(o[C.USER_ID], o[C.FOOD_ID], o[C.MAKERS_ID], o[C.COUNT], o[C.ORDERED_AT])
             .where(o[C.SERVICE_DATE] == service_date, o[C.DINING_TYPE] == dining_type,
                    o[C.IS_PAID] == sa.true()))
    return pd.read_sql(query, conn, parse_dates=[C.ORDERED_AT])


def _capacities(conn: sa.Connection, dining_type: int) -> tuple[pd.Series, pd.Series]:
    fc, mc = S.food_capacity.c, S.makers_capacity.c
    foods = pd.read_sql(sa.select(fc.food_id, fc.capacity).where(fc.dining_type == dining_type), conn)
    makers = pd.read_sql(sa.select(mc.makers_id, mc.capacity).where(mc.dining_type == dining_type), conn)
    return (foods.groupby("food_id")["capacity"].min().rename_axis(C.FOOD_ID),
            makers.groupby("makers_id")["capacity"].min().rename_axis(C.MAKERS_ID))


def _recent(conn: sa.Connection, user_ids: list[int], service_date: date, n_days: int) -> pd.DataFrame:
    """Foods each user had on their last ``n_days`` service days before the date (variety)."""
    if not user_ids or n_days <= 0:
        return pd.DataFrame({C.USER_ID: pd.Series(dtype="int64"), C.FOOD_ID: pd.Series(dtype="int64")})
    o = S.mart_order_item.c
    query = (sa.select(o[C.USER_ID], o[C.FOOD_ID], o[C.SERVICE_DATE])
             .where(o[C.USER_ID].in_(user_ids), o[C.IS_PAID] == sa.true(),
                    o[C.SERVICE_DATE] < service_date,
                    o[C.SERVICE_DATE] >= service_date - timedelta(days=RECENT_LOOKBACK_DAYS)))
    rows = pd.read_sql(query, conn)
    if rows.empty:
        return rows[[C.USER_ID, C.FOOD_ID]]
    days = rows[[C.USER_ID, C.SERVICE_DATE]].drop_duplicates()
    days = days[days.groupby(C.USER_ID)[C.SERVICE_DATE].rank(method="first", ascending=False) <= n_days]
    return rows.merge(days, on=[C.USER_ID, C.SERVICE_DATE])[[C.USER_ID, C.FOOD_ID]].drop_duplicates()


def _users(conn: sa.Connection, user_ids: list[int]) -> pd.DataFrame:
    u = S.mart_user.c
    if not user_ids:
        return pd.DataFrame({C.USER_ID: pd.Series(dtype="int64"), C.GROUP_ID: pd.Series(dtype="Int64"),
                             C.ALLERGY_TAGS: pd.Series(dtype=object)})
    query = (sa.select(u[C.USER_ID], u[C.GROUP_ID], u[C.ALLERGY_TAGS], u[C.LEFT_ON])
             .where(u[C.USER_ID].in_(user_ids)).order_by(u[C.USER_ID]))
    return pd.read_sql(query, conn)


def load_inputs(engine: sa.Engine, service_date, dining_type, *, as_of: datetime | None = None,
                mode: str = PREVIEW, user_ids=None, settings: list[AutoOrderSetting] | None = None,
                variety_days: int = 2) -> PlanInputs:
    """Read one date and meal. ``user_ids`` replaces the opted-in users (the backtest plans everyone
    who ordered, as if they had opted in with no limits); ``settings`` replaces the stored ones.

    ``preview``: the opted-in users without an order of that meal as of ``as_of`` are planned, and
    every order placed by then takes capacity. ``replay``: the opted-in users are planned as if
    they had not ordered (their own orders free their portions), to compare with what they chose.
    """
    service_date = parse_service_date(service_date)
    dining_type = check_dining_type(dining_type)
    if mode not in MODES:
        raise PlanInputError(f"The plan mode must be one of {', '.join(MODES)}, not {mode!r}.",
                             key="err.bad_mode", choices=", ".join(MODES), value=mode)
    as_of = as_of or default_as_of(service_date)
    with engine.connect() as conn:
        menu = read_menu(conn, service_date, dining_type)
        if menu.empty:
            label = codes.DINING_TYPE[dining_type]
            raise PlanInputError(f"No group has a {label} menu on {service_date}: nothing to plan. "
                                 "Pick a date with a menu (the Compare page lists them).",
                                 key="err.no_menu_any_group", meal=label, date=service_date)
        if settings is None:
            settings = read_settings(engine) if user_ids is None else []
        by_user = {s.user_id: s for s in settings}
        if user_ids is None:
            candidates = sorted(u for u, s in by_user.items() if s.covers(service_date, dining_type))
        else:
            candidates = sorted({int(u) for u in user_ids})
        users = _users(conn, candidates)
        left = pd.to_datetime(users.pop(C.LEFT_ON))
        users = users[(left.isna() | (left > pd.Timestamp(service_date))).to_numpy()].reset_index(drop=True)
        every = _orders_of_meal(conn, service_date, dining_type)
        orders = every[every[C.ORDERED_AT] <= pd.Timestamp(as_of)]
        planned = set(users[C.USER_ID].astype(int))
        n_already = 0
        if mode == PREVIEW and user_ids is None:
            ordered_users = set(orders.loc[orders[C.USER_ID].isin(planned), C.USER_ID].astype(int))
            n_already = len(ordered_users)
            users = users[~users[C.USER_ID].isin(ordered_users)].reset_index(drop=True)
            taking = orders
        else:
            taking = orders[~orders[C.USER_ID].isin(planned)]
        own = every[every[C.USER_ID].isin(set(users[C.USER_ID].astype(int)))]
        food_cap, maker_cap = _capacities(conn, dining_type)
        taken_food = taking.groupby(C.FOOD_ID)[C.COUNT].sum()
        taken_maker = taking.groupby(C.MAKERS_ID)[C.COUNT].sum()
        food_room = food_cap.sub(taken_food, fill_value=0).clip(lower=0).loc[food_cap.index]
        maker_room = maker_cap.sub(taken_maker, fill_value=0).clip(lower=0).loc[maker_cap.index]
        recent = _recent(conn, users[C.USER_ID].astype(int).tolist(), service_date, variety_days)
    return PlanInputs(
        service_date=service_date, dining_type=dining_type, as_of=as_of, mode=mode, users=users,
        settings={u: by_user[u] for u in users[C.USER_ID].astype(int) if u in by_user},
        menu=menu, food_room=food_room.astype(np.int64), maker_room=maker_room.astype(np.int64),
        ordered=own[[C.USER_ID, C.FOOD_ID]].drop_duplicates().reset_index(drop=True),
        recent=recent, n_already_ordered=n_already)
