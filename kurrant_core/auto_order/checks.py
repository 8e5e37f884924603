"""An independent audit of a plan against the hard rules, from the inputs alone (not the solver's
problem): what the backtest counts, what tests assert is zero."""
from __future__ import annotations

import pandas as pd

from kurrant_core import codes, columns as C
from kurrant_core.auto_order.inputs import PlanInputs

VIOLATION_KINDS = ("capacity", "allergy", "price", "avoided", "menu", "two_picks")


def plan_violations(inputs: PlanInputs, items: pd.DataFrame) -> dict[str, int]:
    """Per rule, how many planned rows break it (capacity: portions over, per food and per maker)."""
    picked = items.dropna(subset=[C.FOOD_ID])
    out = dict.fromkeys(VIOLATION_KINDS, 0)
    if picked.empty:
        return out
    out["two_picks"] = int(picked[C.USER_ID].duplicated().sum())
    users = inputs.users.set_index(C.USER_ID)
    menu = inputs.menu
    on_menu = set(zip(menu[C.GROUP_ID].astype(int), menu[C.FOOD_ID].astype(int)))
    food_allergens = {int(f): set(codes.parse_codes(t)) for f, t in zip(menu[C.FOOD_ID], menu[C.ALLERGY_TAGS])}
    food_maker = dict(zip(menu[C.FOOD_ID].astype(int), menu[C.MAKERS_ID].astype(int)))
    price_of = dict(zip(zip(menu[C.GROUP_ID].astype(int), menu[C.FOOD_ID].astype(int)), menu[C.PRICE].astype(int)))
    for row in picked.itertuples(index=False):
        user, food = int(getattr(row, C.USER_ID)), int(getattr(row, C.FOOD_ID))
        group = int(users.at[user, C.GROUP_ID]) if pd.notna(users.at[user, C.GROUP_ID]) else -1
        out["menu"] += (group, food) not in on_menu
        out["allergy"] += bool(set(codes.parse_codes(users.at[user, C.ALLERGY_TAGS])) & food_allergens.get(food, set()))
        setting = inputs.settings.get(user)
        if setting is not None:
            out["price"] += setting.max_price is not None and price_of.get((group, food), 0) > setting.max_price
            out["avoided"] += food in setting.avoid_food_ids or food_maker.get(food) in setting.avoid_makers_ids
    per_food = picked.groupby(picked[C.FOOD_ID].astype(int)).size()
    per_maker = picked.groupby(picked[C.FOOD_ID].astype(int).map(food_maker)).size()
    over_food = (per_food - inputs.food_room.reindex(per_food.index)).clip(lower=0).fillna(0)
    over_maker = (per_maker - inputs.maker_room.reindex(per_maker.index)).clip(lower=0).fillna(0)
    out["capacity"] = int(over_food.sum() + over_maker.sum())
    return {k: int(v) for k, v in out.items()}
