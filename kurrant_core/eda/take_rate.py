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
from kurrant_core.eda.measures import ratio, read_frame
from kurrant_core.eda.names import with_names
from kurrant_core.eda.sources import items, menu_orders

_SLOT_ITEMS = "slot_items"
SLOT_KEY = (C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE)


def menu_take_rate(engine: sa.Engine, filt: OrderFilter) -> pd.DataFrame:
    """One row per offered food: name, times offered, times chosen, items, pick rate, take rate.

    Items can only be ordered from the menu, so a slot's total is the sum over its menu rows of
    each row's items: a window SUM over the slot replaces a second join to per-slot totals.
    """
    menu, food = S.mart_daily_menu, S.mart_food
    ordered = menu_orders(filt)
    per_menu_row = (sa.select(ordered.c[C.DAILY_FOOD_ID], items(ordered, filt).label(C.N_ITEMS))
                    .group_by(ordered.c[C.DAILY_FOOD_ID]).subquery())
    row_items = sa.func.coalesce(per_menu_row.c[C.N_ITEMS], 0)
    offered = menu.outerjoin(per_menu_row, per_menu_row.c[C.DAILY_FOOD_ID] == menu.c[C.DAILY_FOOD_ID])
    where = filt.where_clause(menu)
    if filt.cuisine_codes:          # the menu has no cuisine; only then is the food mart needed here
        where = sa.and_(where, menu.c[C.FOOD_ID].in_(
            sa.select(food.c[C.FOOD_ID]).where(food.c[C.CUISINE_CODE].in_(filt.cuisine_codes))))
    offers = (sa.select(menu.c[C.FOOD_ID], row_items.label(C.N_ITEMS),
                        sa.func.sum(row_items).over(partition_by=[menu.c[k] for k in SLOT_KEY]).label(_SLOT_ITEMS))
              .select_from(offered).where(where).subquery())
    per_food = (sa.select(offers.c[C.FOOD_ID], sa.func.count().label(C.TIMES_OFFERED),
                          sa.func.sum(sa.case((offers.c[C.N_ITEMS] > 0, 1), else_=0)).label(C.TIMES_CHOSEN),
                          sa.func.sum(offers.c[C.N_ITEMS]).label(C.N_ITEMS),
                          sa.func.sum(offers.c[_SLOT_ITEMS]).label(_SLOT_ITEMS))
                .group_by(offers.c[C.FOOD_ID]))
    names = sa.select(food.c[C.FOOD_ID], food.c[C.FOOD_NAME]).subquery()
    stmt, agg = with_names(per_food, C.FOOD_ID, names)      # names joined to the few result rows
    stmt = stmt.order_by(agg.c[C.TIMES_OFFERED].desc(), agg.c[C.FOOD_ID])
    frame = read_frame(engine, stmt)
    frame[C.PICK_RATE] = ratio(frame[C.TIMES_CHOSEN], frame[C.TIMES_OFFERED])
    frame[C.TAKE_RATE] = ratio(frame[C.N_ITEMS], frame[_SLOT_ITEMS])
    return frame.drop(columns=[_SLOT_ITEMS])
