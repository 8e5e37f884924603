"""Who the comparison page looks at: a user's profile in labels, quick picks, their order history.

Everything reads ``mart_user``/``mart_order_item``/``mart_food`` through SQLAlchemy Core, so the
page works on SQLite and MariaDB alike. A user the database does not know raises KurrantError
with what to do; a user without orders is a normal state (the models answer with the cold-start
fallback), not an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.errors import KurrantError

HEAVY, LIGHT, COLD, RANDOM = "heavy", "light", "cold", "random"
QUICK_PICKS: dict[str, str] = {HEAVY: "Heavy user", LIGHT: "Light user", COLD: "Cold-start user",
                               RANDOM: "Random user"}
"""Quick-pick kind -> button label, in the order the page shows them."""

_USER, _ITEM, _FOOD = S.mart_user.c, S.mart_order_item.c, S.mart_food.c


@dataclass(frozen=True)
class UserProfile:
    """One ``mart_user`` row with every code turned into its Korean label."""

    user_id: int
    group_id: int | None
    group_name: str
    spot_name: str
    joined_on: date | None
    left_on: date | None
    status_label: str
    is_membership: bool
    favorite_labels: tuple[str, ...]
    allergy_labels: tuple[str, ...]
    vegan_label: str
    n_items: int
    first_order_date: date | None
    last_order_date: date | None

    @property
    def has_orders(self) -> bool:
        return self.n_items > 0


def _as_date(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def user_profile(engine: sa.Engine, user_id: int) -> UserProfile:
    """The user's profile; KurrantError when ``mart_user`` has no such user."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(S.mart_user).where(_USER[C.USER_ID] == int(user_id))).mappings().first()
    if row is None:
        raise KurrantError(f"User {user_id} is not in the DE database (mart_user). Check the id, pick a "
                           "user with the quick picks, or sync + preprocess if they joined recently.",
                           key="err.unknown_user", user_id=user_id)
    vegan = codes.label(codes.VEGAN_LEVEL, row[C.VEGAN_LEVEL], default="해당없음")
    return UserProfile(
        user_id=int(row[C.USER_ID]),
        group_id=None if row[C.GROUP_ID] is None else int(row[C.GROUP_ID]),
        group_name=row[C.GROUP_NAME] or "소속 없음", spot_name=row[C.SPOT_NAME] or "스팟 없음",
        joined_on=_as_date(row[C.JOINED_ON]), left_on=_as_date(row[C.LEFT_ON]),
        status_label=codes.label(codes.USER_STATUS, row[C.USER_STATUS]),
        is_membership=bool(row[C.IS_MEMBERSHIP]),
        favorite_labels=tuple(codes.labels(codes.FOOD_TAG, codes.parse_codes(row[C.FAVORITE_TAGS]))),
        allergy_labels=tuple(codes.labels(codes.FOOD_TAG, codes.parse_codes(row[C.ALLERGY_TAGS]))),
        vegan_label=f"비건 ({vegan})" if row[C.IS_VEGAN] else vegan,
        n_items=int(row[C.N_ITEMS]), first_order_date=_as_date(row[C.FIRST_ORDER_DATE]),
        last_order_date=_as_date(row[C.LAST_ORDER_DATE]))


def user_groups(engine: sa.Engine) -> dict[int, str]:
    """Group id -> name, for the groups that have users."""
    query = (sa.select(_USER[C.GROUP_ID], sa.func.max(_USER[C.GROUP_NAME]))
             .where(_USER[C.GROUP_ID].is_not(None)).group_by(_USER[C.GROUP_ID]).order_by(_USER[C.GROUP_ID]))
    with engine.connect() as conn:
        return {int(g): name or f"#{g}" for g, name in conn.execute(query)}


def users_of_group(engine: sa.Engine, group_id: int) -> pd.DataFrame:
    """The group's users (USER_ID, N_ITEMS), most orders first: the browse list."""
    query = (sa.select(_USER[C.USER_ID], _USER[C.N_ITEMS]).where(_USER[C.GROUP_ID] == int(group_id))
             .order_by(_USER[C.N_ITEMS].desc(), _USER[C.USER_ID]))
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=[C.USER_ID, C.N_ITEMS])


def pick_user(engine: sa.Engine, kind: str, *, group_id: int | None = None, cutoff: date | None = None,
              seed: int | None = None) -> int:
    """A user worth looking at, from ``mart_user`` (optionally within one group).

    - heavy: the active user with the most paid items; light: the active user with the fewest
      (at least one, and at least one before ``cutoff`` when given, so the models know them);
    - cold: a user with no paid item before ``cutoff`` (no paid item at all without one), the
      most recently joined first: the models answer with their cold-start fallback;
    - random: any active user, drawn with ``seed`` (None: a fresh draw each time).
    KurrantError when no user fits, saying why.
    """
    if kind not in QUICK_PICKS:
        raise KurrantError(f"Unknown quick pick {kind!r}; choose one of {', '.join(QUICK_PICKS)}.",
                           key="err.unknown_quick_pick", kind=kind, choices=", ".join(QUICK_PICKS))
    where = [] if group_id is None else [_USER[C.GROUP_ID] == int(group_id)]
    active = _USER[C.LEFT_ON].is_(None)
    if kind == COLD:
        never = _USER[C.N_ITEMS] == 0
        where.append(never if cutoff is None else sa.or_(never, _USER[C.FIRST_ORDER_DATE].is_(None),
                                                          _USER[C.FIRST_ORDER_DATE] >= cutoff))
        order = [_USER[C.JOINED_ON].desc(), _USER[C.USER_ID].desc()]
    elif kind == RANDOM:
        where.append(active)
        order = [_USER[C.USER_ID]]
    else:
        where += [active, _USER[C.N_ITEMS] > 0]
        if cutoff is not None:
            where.append(_USER[C.FIRST_ORDER_DATE] < cutoff)
        n_items = _USER[C.N_ITEMS].desc() if kind == HEAVY else _USER[C.N_ITEMS].asc()
        order = [n_items, _USER[C.USER_ID]]
    query = sa.select(_USER[C.USER_ID]).where(*where).order_by(*order)
    with engine.connect() as conn:
        ids = conn.execute(query if kind == RANDOM else query.limit(1)).scalars().all()
    if not ids:
        scope = "this group" if group_id is not None else "the DE database"
        why = (f"every user of {scope} had ordered before the run's cutoff ({cutoff})" if kind == COLD
               and cutoff is not None else f"no user of {scope} fits")
        raise KurrantError(f"No {QUICK_PICKS[kind].lower()} to pick: {why}. Try another group or quick pick.",
                           key="err.no_quick_pick")
    if kind == RANDOM:
        return int(np.random.default_rng(seed).choice(ids))
    return int(ids[0])


def user_history(engine: sa.Engine, user_id: int, before: date | None = None) -> pd.DataFrame:
    """The user's paid order items (before ``before`` when given), oldest first.

    Columns SERVICE_DATE (datetime64, for plotting), DINING_TYPE, DINING_LABEL, FOOD_ID, FOOD_NAME,
    MAKERS_NAME, CUISINE_LABEL, COUNT; empty (same columns) for a user without orders.
    """
    columns = [_ITEM[C.SERVICE_DATE], _ITEM[C.DINING_TYPE], _ITEM[C.FOOD_ID], _FOOD[C.FOOD_NAME],
               _FOOD[C.MAKERS_NAME], _FOOD[C.CUISINE_LABEL], _ITEM[C.COUNT]]
    query = (sa.select(*columns)
             .select_from(S.mart_order_item.join(S.mart_food, _FOOD[C.FOOD_ID] == _ITEM[C.FOOD_ID]))
             .where(_ITEM[C.USER_ID] == int(user_id), _ITEM[C.IS_PAID] == sa.true())
             .order_by(_ITEM[C.SERVICE_DATE], _ITEM[C.DINING_TYPE], _ITEM[C.ORDER_ITEM_ID]))
    if before is not None:
        query = query.where(_ITEM[C.SERVICE_DATE] < before)
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=[c.name for c in columns])
    frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE])
    frame.insert(2, C.DINING_LABEL, [codes.label(codes.DINING_TYPE, d) for d in frame[C.DINING_TYPE]])
    return frame.astype({C.DINING_TYPE: "int64", C.FOOD_ID: "int64", C.COUNT: "int64"})
