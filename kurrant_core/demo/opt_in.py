"""Demo users who opted into automatic purchase, with varied terms (DE-owned ``auto_order_setting``)."""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from kurrant_core import codes, schema
from kurrant_core.demo.foods import Foods, Makers
from kurrant_core.demo.population import Groups, Users
from kurrant_core.demo.scales import DemoScale
from kurrant_core.demo.writer import Columns, table_columns

OPT_IN_SHARE = 0.15
WORKWEEK = "0,1,2,3,4"
PRICE_CAPS = np.array([7_000, 8_000, 9_000, 10_000, 12_000])
DEMO_EDITOR = "demo"


def opt_in_settings(rng: np.random.Generator, scale: DemoScale, groups: Groups, users: Users, foods: Foods,
                    makers: Makers) -> Columns:
    """About ``OPT_IN_SHARE`` of the users still in their group, each with their own terms."""
    staying = np.flatnonzero(np.isnat(users.leave) & ~users.withdrawn)
    chosen = np.sort(rng.choice(staying, size=int(round(OPT_IN_SHARE * len(staying))), replace=False))
    n = len(chosen)
    dining, weekdays, max_price, avoid_foods, avoid_makers, active_from, active_to = ([] for _ in range(7))
    for u in chosen:
        served = [int(x) for x in codes.parse_codes(groups.dining_types[users.group[u]])]
        lunch_only = codes.LUNCH in served and rng.random() < 0.75
        dining.append(str(codes.LUNCH) if lunch_only else codes.join_codes(np.array(served)))
        r = rng.random()
        weekdays.append(WORKWEEK if r < 0.7 else "0,2,4" if r < 0.8
                        else codes.join_codes(np.sort(rng.choice(5, size=int(rng.integers(2, 5)), replace=False))))
        max_price.append(None if rng.random() < 0.45 else int(rng.choice(PRICE_CAPS)))
        avoid_foods.append(codes.join_codes(np.sort(rng.choice(foods.ids, size=int(rng.integers(1, 3)),
                                                               replace=False))) if rng.random() < 0.3 else "")
        avoid_makers.append(str(int(rng.choice(makers.ids))) if rng.random() < 0.15 else "")
        active_from.append(scale.end - timedelta(days=int(rng.integers(0, 120))))
        active_to.append(scale.end + timedelta(days=int(rng.integers(10, 90))) if rng.random() < 0.15 else None)
    snapshot = np.datetime64(scale.snapshot, "s")
    return table_columns(
        schema.auto_order_setting, user_id=users.ids[chosen], dining_types=dining, weekdays=weekdays,
        max_price=max_price, avoid_food_ids=avoid_foods, avoid_makers_ids=avoid_makers,
        active_from=np.array(active_from, dtype="datetime64[D]"),
        active_to=active_to, updated_at=np.full(n, snapshot), updated_by=[DEMO_EDITOR] * n)
