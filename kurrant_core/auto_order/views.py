"""The Auto-order page's figures, computed here so the page only lays them out."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.auto_order.planner import Plan

SOURCE = "source"
PLANNED_SOURCE, ACTUAL_SOURCE = "planned", "actual"


@dataclass(frozen=True)
class Headline:
    users: int
    planned: int
    unplanned: int
    already_ordered: int
    total_price: int
    replay_users: int          # planned users with a real order of that meal (replay)
    replay_matches: int
    objective: float
    greedy_objective: float

    @property
    def match_rate(self) -> float | None:
        return self.replay_matches / self.replay_users if self.replay_users else None


def headline(plan: Plan) -> Headline:
    items = plan.items
    planned = items[items[C.FOOD_ID].notna()]
    with_order = items[items[C.ORDERED_FOOD_IDS].notna()] if C.ORDERED_FOOD_IDS in items else items.iloc[:0]
    return Headline(users=len(items), planned=len(planned), unplanned=len(items) - len(planned),
                    already_ordered=plan.n_already_ordered, total_price=int(planned[C.PRICE].sum()),
                    replay_users=len(with_order),
                    replay_matches=int(with_order[C.IS_MATCH].sum()) if len(with_order) else 0,
                    objective=plan.objective, greedy_objective=plan.greedy_objective)


def unplanned_reasons(plan: Plan) -> pd.DataFrame:
    """REASON, N_USERS for the users left without a pick, most common first."""
    left = plan.items[plan.items[C.FOOD_ID].isna()]
    return left.groupby(C.REASON).size().rename(C.N_USERS).sort_values(ascending=False).reset_index()


def maker_load(plan: Plan) -> pd.DataFrame:
    """Per maker on the menu: MAKERS_NAME, ALREADY_ORDERED (before the plan), PLANNED, CAPACITY,
    REMAINING after the plan (capacity None: no limit recorded)."""
    inputs = plan.inputs
    makers = inputs.menu.drop_duplicates(C.MAKERS_ID)[[C.MAKERS_ID, C.MAKERS_NAME]]
    planned = plan.items.dropna(subset=[C.MAKERS_ID]).groupby(C.MAKERS_ID).size()
    out = makers.assign(**{C.PLANNED: makers[C.MAKERS_ID].map(planned).fillna(0).astype(int),
                           C.REMAINING: makers[C.MAKERS_ID].map(inputs.maker_room)})
    out[C.REMAINING] = out[C.REMAINING] - out[C.PLANNED]
    return out.sort_values(C.PLANNED, ascending=False).reset_index(drop=True)


def food_distribution(engine: sa.Engine, plan: Plan) -> pd.DataFrame:
    """Per food: how many planned picks, against how many items the planned users' groups really
    ordered that meal (FOOD_NAME, SOURCE, COUNT), for a side-by-side bar chart."""
    inputs = plan.inputs
    names = inputs.menu.drop_duplicates(C.FOOD_ID).set_index(C.FOOD_ID)[C.FOOD_NAME]
    planned = plan.items.dropna(subset=[C.FOOD_ID]).groupby(C.FOOD_ID).size()
    groups = [int(g) for g in plan.items[C.GROUP_ID].dropna().unique()]
    o = S.mart_order_item.c
    with engine.connect() as conn:
        actual = pd.read_sql(sa.select(o[C.FOOD_ID], sa.func.sum(o[C.COUNT]).label(C.COUNT))
                             .where(o[C.SERVICE_DATE] == plan.service_date, o[C.DINING_TYPE] == plan.dining_type,
                                    o[C.IS_PAID] == sa.true(), o[C.GROUP_ID].in_(groups or [-1]))
                             .group_by(o[C.FOOD_ID]), conn).set_index(C.FOOD_ID)[C.COUNT]
    frame = pd.concat([pd.DataFrame({C.FOOD_ID: planned.index, C.COUNT: planned.to_numpy(), SOURCE: PLANNED_SOURCE}),
                       pd.DataFrame({C.FOOD_ID: actual.index, C.COUNT: actual.to_numpy(), SOURCE: ACTUAL_SOURCE})])
    frame[C.FOOD_NAME] = frame[C.FOOD_ID].map(names).fillna(frame[C.FOOD_ID].astype(str))
    return frame.sort_values([SOURCE, C.COUNT], ascending=[False, False]).reset_index(drop=True)


def user_table(plan: Plan, user_names: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per user with readable food and maker names, and (replay) what they ordered."""
    menu = plan.inputs.menu.drop_duplicates(C.FOOD_ID).set_index(C.FOOD_ID)
    items = plan.items.copy()
    items[C.FOOD_NAME] = items[C.FOOD_ID].map(menu[C.FOOD_NAME])
    items[C.MAKERS_NAME] = items[C.FOOD_ID].map(menu[C.MAKERS_NAME])
    if C.ORDERED_FOOD_IDS in items:
        items[C.ORDERED_FOOD_IDS] = [", ".join(str(menu[C.FOOD_NAME].get(f, f)) for f in foods)
                                     if isinstance(foods, list) else "" for foods in items[C.ORDERED_FOOD_IDS]]
    return items
