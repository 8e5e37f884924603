"""Menu take rate: how often each food was on a daily menu, and how often it was chosen there.

A menu slot is one group's menu for one service date and dining type (one ``mart_daily_menu``
row per food on it). For each food:

- times offered: slots whose menu carried it;
- times chosen: of those, slots where at least one item of it was ordered (pick rate = chosen / offered);
- take rate: its items / all items ordered in the slots that offered it - its share of the choices
  it competed in, comparable across foods offered on menus of different sizes.

Menus belong to groups, so the spot and paid filters apply to the ordered side only.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.eda.filters import OrderFilter
from kurrant_core.eda.measures import MOI, n_items, ratio, read_frame

_SLOT_ITEMS = "slot_items"
SLOT_KEY = (C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE)


def menu_take_rate(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per offered food: name, times offered, times chosen, items, pick rate, take rate."""
    menu, food = S.mart_daily_menu, S.mart_food
    where = filt.where_clause(MOI)
    per_slot_food = (sa.select(MOI.c[C.DAILY_FOOD_ID], n_items().label(C.N_ITEMS)).where(where)
                     .group_by(MOI.c[C.DAILY_FOOD_ID]).subquery())
    per_slot = (sa.select(*[MOI.c[k] for k in SLOT_KEY], n_items().label(_SLOT_ITEMS)).where(where)
                .group_by(*[MOI.c[k] for k in SLOT_KEY]).subquery())
    items = sa.func.coalesce(per_slot_food.c[C.N_ITEMS], 0)
    stmt = (
        sa.select(menu.c[C.FOOD_ID], sa.func.max(food.c[C.FOOD_NAME]).label(C.FOOD_NAME),
                  sa.func.count().label(C.TIMES_OFFERED),
                  sa.func.sum(sa.case((items > 0, 1), else_=0)).label(C.TIMES_CHOSEN),
                  sa.func.sum(items).label(C.N_ITEMS),
                  sa.func.sum(sa.func.coalesce(per_slot.c[_SLOT_ITEMS], 0)).label(_SLOT_ITEMS))
        .select_from(
            menu.join(food, food.c[C.FOOD_ID] == menu.c[C.FOOD_ID])
            .outerjoin(per_slot_food, per_slot_food.c[C.DAILY_FOOD_ID] == menu.c[C.DAILY_FOOD_ID])
            .outerjoin(per_slot, sa.and_(*[per_slot.c[k] == menu.c[k] for k in SLOT_KEY])))
        .where(filt.where_clause(menu, food))
        .group_by(menu.c[C.FOOD_ID])
        .order_by(sa.func.count().desc(), menu.c[C.FOOD_ID]))
    frame = read_frame(engine, stmt)
    frame[C.PICK_RATE] = ratio(frame[C.TIMES_CHOSEN], frame[C.TIMES_OFFERED])
    frame[C.TAKE_RATE] = ratio(frame[C.N_ITEMS], frame[_SLOT_ITEMS])
    return frame.drop(columns=[_SLOT_ITEMS])
