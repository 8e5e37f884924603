"""Who opted into automatic purchase, and on which terms: the DE-owned ``auto_order_setting`` table.

Production has no such table yet. When it gets one (say ``user__auto_order_setting`` with the same
fields), the sync copies it like any raw mirror table (incremental by ``updated_date_time``, chunked
by user id) into a raw table of that name, and preprocess maps it into this one; until then the
settings are edited here, on the dashboard or with ``auto-order settings``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from kurrant_core import access, codes, columns as C, schema as S
from kurrant_core.audit import audited
from kurrant_core.errors import KurrantError

_t = S.auto_order_setting.c
ALL_WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)
WORKWEEK = (0, 1, 2, 3, 4)


class SettingsError(KurrantError):
    """An auto-order setting that cannot be stored as given."""


def _ints(value, what: str) -> tuple[int, ...]:
    """``"1,2"``, ``[1, 2]`` or None -> ``(1, 2)``; SettingsError for anything else."""
    if value is None or (isinstance(value, float) and value != value):
        return ()
    try:
        items = codes.parse_codes(value) if isinstance(value, str) else [int(v) for v in value]
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be whole numbers separated by commas, not {value!r}.",
                            key="err.settings_ids", what=what, value=value) from None
    return tuple(sorted(set(items)))


@dataclass(frozen=True)
class AutoOrderSetting:
    """One user's opt-in: the meals and weekdays it covers, a price cap, what to avoid, and when."""

    user_id: int
    dining_types: tuple[int, ...] = (codes.LUNCH,)
    weekdays: tuple[int, ...] = WORKWEEK
    max_price: int | None = None
    avoid_food_ids: tuple[int, ...] = ()
    avoid_makers_ids: tuple[int, ...] = ()
    active_from: date = field(default_factory=date.today)
    active_to: date | None = None

    def __post_init__(self) -> None:
        if int(self.user_id) < 1:
            raise SettingsError(f"user_id must be a positive id, not {self.user_id}.",
                                key="err.settings_user", value=self.user_id)
        if not self.dining_types or set(self.dining_types) - set(codes.DINING_TYPE):
            raise SettingsError(f"dining_types must be some of {sorted(codes.DINING_TYPE)} "
                                f"(아침/점심/저녁), not {list(self.dining_types)}.", key="err.settings_dining",
                                choices="1/2/3 (아침/점심/저녁)", value=list(self.dining_types))
        if not self.weekdays or set(self.weekdays) - set(ALL_WEEKDAYS):
            raise SettingsError(f"weekdays must be some of 0 (Monday) .. 6 (Sunday), not {list(self.weekdays)}.",
                                key="err.settings_weekdays", value=list(self.weekdays))
        if self.max_price is not None and int(self.max_price) <= 0:
            raise SettingsError(f"max_price must be a positive amount in won, not {self.max_price}.",
                                key="err.settings_price", value=self.max_price)
        if self.active_to is not None and self.active_to < self.active_from:
            raise SettingsError(f"active_to ({self.active_to}) is before active_from ({self.active_from}).",
                                key="err.settings_period", end=self.active_to, start=self.active_from)

    def covers(self, service_date: date, dining_type: int) -> bool:
        """True when this opt-in asks for an automatic order of that meal on that date."""
        return (dining_type in self.dining_types and service_date.weekday() in self.weekdays
                and self.active_from <= service_date
                and (self.active_to is None or service_date <= self.active_to))

    def as_row(self, *, updated_by: str) -> dict:
        return {C.USER_ID: int(self.user_id), C.DINING_TYPES: codes.join_codes(self.dining_types),
                C.WEEKDAYS: codes.join_codes(self.weekdays),
                C.MAX_PRICE: None if self.max_price is None else int(self.max_price),
                C.AVOID_FOOD_IDS: codes.join_codes(self.avoid_food_ids),
                C.AVOID_MAKERS_IDS: codes.join_codes(self.avoid_makers_ids),
                C.ACTIVE_FROM: self.active_from, C.ACTIVE_TO: self.active_to,
                C.UPDATED_AT: datetime.now().replace(microsecond=0), C.UPDATED_BY: updated_by}


def _date(value, what: str) -> date | None:
    if value is None or value == "" or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a date like 2026-11-02, not {value!r}.",
                            key="err.settings_date", what=what, value=value) from None


def make_setting(user_id, *, dining_types=None, weekdays=None, max_price=None, avoid_food_ids=None,
                 avoid_makers_ids=None, active_from=None, active_to=None) -> AutoOrderSetting:
    """A validated setting from loose values (CLI strings, form fields, table rows)."""
    try:
        uid = int(user_id)
        price = None if max_price in (None, "") or (isinstance(max_price, float) and max_price != max_price) \
            else int(float(max_price))
    except (TypeError, ValueError):
        raise SettingsError(f"user_id and max_price must be whole numbers (got {user_id!r}, {max_price!r}).",
                            key="err.settings_numbers", user_id=user_id, max_price=max_price) from None
    return AutoOrderSetting(
        user_id=uid,
        dining_types=_ints(dining_types, "dining_types") or (codes.LUNCH,),
        weekdays=_ints(weekdays, "weekdays") or WORKWEEK,
        max_price=price, avoid_food_ids=_ints(avoid_food_ids, "avoid_food_ids"),
        avoid_makers_ids=_ints(avoid_makers_ids, "avoid_makers_ids"),
        active_from=_date(active_from, "active_from") or date.today(),
        active_to=_date(active_to, "active_to"))


def ensure_table(engine: sa.Engine) -> None:
    """A DE database from before auto-order gets its (empty) tables on first use."""
    for table in (S.auto_order_setting, S.auto_order_plan, S.auto_order_plan_item):
        table.create(engine, checkfirst=True)


def read_settings(engine: sa.Engine, user_ids=None) -> list[AutoOrderSetting]:
    """Every stored opt-in (or those of ``user_ids``), by user id."""
    ensure_table(engine)
    query = sa.select(S.auto_order_setting).order_by(_t[C.USER_ID])
    if user_ids is not None:
        query = query.where(_t[C.USER_ID].in_([int(u) for u in user_ids]))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [make_setting(r[C.USER_ID], dining_types=r[C.DINING_TYPES], weekdays=r[C.WEEKDAYS],
                         max_price=r[C.MAX_PRICE], avoid_food_ids=r[C.AVOID_FOOD_IDS],
                         avoid_makers_ids=r[C.AVOID_MAKERS_IDS], active_from=r[C.ACTIVE_FROM],
                         active_to=r[C.ACTIVE_TO]) for r in rows]


def settings_frame(engine: sa.Engine) -> pd.DataFrame:
    """The settings table as stored (for the page's editor and ``auto-order settings list``)."""
    ensure_table(engine)
    with engine.connect() as conn:
        return pd.read_sql(sa.select(S.auto_order_setting).order_by(_t[C.USER_ID]), conn)


def _check_users(conn: sa.Connection, settings: list[AutoOrderSetting]) -> None:
    ids = sorted({s.user_id for s in settings})
    if not ids:
        return
    known = {int(x) for x in conn.execute(sa.select(S.mart_user.c[C.USER_ID])
                                          .where(S.mart_user.c[C.USER_ID].in_(ids))).scalars()}
    unknown = [u for u in ids if u not in known]
    if unknown:
        raise SettingsError(f"Unknown user id(s) {unknown[:10]}: only users in the DE's mart_user can opt in.",
                            key="err.settings_unknown_users", ids=unknown[:10])


def _users_target(ids) -> str:
    ids = sorted(int(u) for u in ids)
    shown = ", ".join(str(u) for u in ids[:5]) + (f" … (+{len(ids) - 5})" if len(ids) > 5 else "")
    return f"auto-order settings of user(s) {shown}"


def save_settings(engine: sa.Engine, settings: list[AutoOrderSetting], *, by: access.Person) -> int:
    """Store (insert or replace) these users' settings in one transaction with its audit row;
    nothing on any error (an unknown user, a person who may not write)."""
    ensure_table(engine)
    ids = [s.user_id for s in settings]
    with audited(engine, by, access.AUTO_ORDER_SETTINGS, _users_target(ids)) as act:
        with engine.begin() as conn:
            _check_users(conn, settings)
            if ids:
                conn.execute(sa.delete(S.auto_order_setting).where(_t[C.USER_ID].in_(ids)))
                conn.execute(sa.insert(S.auto_order_setting), [s.as_row(updated_by=by.who) for s in settings])
            act.done(conn)
    return len(settings)


def delete_settings(engine: sa.Engine, user_ids, *, by: access.Person) -> int:
    """Opt these users out (their rows are removed); the number removed."""
    ensure_table(engine)
    ids = [int(u) for u in user_ids]
    with audited(engine, by, access.AUTO_ORDER_SETTINGS, "opt out: " + _users_target(ids)) as act:
        with engine.begin() as conn:
            n = conn.execute(sa.delete(S.auto_order_setting).where(_t[C.USER_ID].in_(ids))).rowcount
            act.done(conn)
    return n


def replace_all_settings(engine: sa.Engine, frame: pd.DataFrame, *, by: access.Person) -> int:
    """The whole table becomes ``frame`` (the page's editor): validated row by row first, then one
    transaction; a bad row raises SettingsError naming it and nothing changes."""
    access.require(by, access.AUTO_ORDER_SETTINGS)
    settings = []
    for i, row in enumerate(frame.to_dict("records"), start=1):
        try:
            settings.append(make_setting(row.get(C.USER_ID), dining_types=row.get(C.DINING_TYPES),
                                         weekdays=row.get(C.WEEKDAYS), max_price=row.get(C.MAX_PRICE),
                                         avoid_food_ids=row.get(C.AVOID_FOOD_IDS),
                                         avoid_makers_ids=row.get(C.AVOID_MAKERS_IDS),
                                         active_from=row.get(C.ACTIVE_FROM), active_to=row.get(C.ACTIVE_TO)))
        except KurrantError as exc:
            raise SettingsError(f"Row {i}: {exc}", key="err.settings_row", row=i, detail=exc) from None
    if len({s.user_id for s in settings}) != len(settings):
        raise SettingsError("A user appears twice; keep one row per user.", key="err.settings_duplicate")
    ensure_table(engine)
    with audited(engine, by, access.AUTO_ORDER_SETTINGS, f"all auto-order settings ({len(settings)} users)") as act:
        with engine.begin() as conn:
            _check_users(conn, settings)
            conn.execute(sa.delete(S.auto_order_setting))
            if settings:
                conn.execute(sa.insert(S.auto_order_setting), [s.as_row(updated_by=by.who) for s in settings])
            act.done(conn)
    return len(settings)


def as_dict(setting: AutoOrderSetting) -> dict:
    out = asdict(setting)
    out["active_from"] = setting.active_from.isoformat()
    out["active_to"] = setting.active_to.isoformat() if setting.active_to else None
    return out
