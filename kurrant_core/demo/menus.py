"""Daily menus: what each group is offered on each service day and dining type.

Each group works with a pool of makers covering most kitchens. Every service day a few of them
(rotating: a maker that cooked recently is less likely) each send one or two foods, the least
recently served first, so the same food is not on the menu every day. Menus are planned for the
whole period plus the upcoming service days, whose menus are already published (판매중).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kurrant_core.demo.foods import DINING_TYPES, Foods, Makers
from kurrant_core.demo.population import Groups
from kurrant_core.demo.scales import DemoScale

MENU_SIZE = {1: (3, 4), 2: (4, 8), 3: (3, 5)}       # foods per menu by dining type (min, max)
MAX_FOODS_PER_MAKER = 2


@dataclass
class Menus:
    """Every menu slot (group, day, dining type) and its foods, sorted by day then group.

    ``food`` and ``daily_food_id`` are flat; slot ``s`` owns ``food[start[s]:stop[s]]``.
    """

    slot_group: np.ndarray
    slot_day: np.ndarray                # index into ``days``
    slot_dining: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    food: np.ndarray                    # food position per menu row
    daily_food_id: np.ndarray
    days: np.ndarray                    # datetime64[D]: past service days, then upcoming ones
    n_past_days: int

    def rows_of(self, slot: int) -> slice:
        return slice(self.start[slot], self.stop[slot])


def group_pools(rng: np.random.Generator, scale: DemoScale, groups: Groups,
                makers: Makers) -> list[np.ndarray]:
    """Each group's maker pool: one maker of most kitchens first, then random others.

    A group with breakfast or dinner gets at least two makers that cook it.
    """
    kinds = np.array(makers.kinds)
    lo, hi = scale.makers_per_group
    pools = []
    for g in range(len(groups.ids)):
        size = min(int(rng.integers(lo, hi + 1)), len(kinds))
        pool: list[int] = []
        for kind in rng.permutation(np.unique(kinds)):
            if len(pool) >= size - 1:
                break
            pool.append(int(rng.choice(np.flatnonzero(kinds == kind))))
        rest = np.setdiff1d(np.arange(len(kinds)), pool)
        pool += rng.choice(rest, size=min(size - len(pool), len(rest)), replace=False).tolist()
        for d, dining_type in enumerate(DINING_TYPES):
            if str(dining_type) in groups.dining_types[g].split(","):
                missing = 2 - makers.serves[pool, d].sum()
                if missing > 0:
                    others = np.setdiff1d(np.flatnonzero(makers.serves[:, d]), pool)
                    pool += rng.choice(others, size=min(missing, len(others)), replace=False).tolist()
        pools.append(np.array(sorted(pool)))
    return pools


def plan_menus(rng: np.random.Generator, groups: Groups, makers: Makers, foods: Foods,
               pools: list[np.ndarray], past_days: list, upcoming_days: list) -> Menus:
    """Plan every group's menus for the past service days and the upcoming ones."""
    days = np.array(past_days + upcoming_days, dtype="datetime64[D]")
    foods_of_maker = [np.flatnonzero(foods.maker_pos == m) for m in range(len(makers.ids))]
    slots: list[tuple[int, int, int, np.ndarray]] = []
    for g in range(len(groups.ids)):
        dining = [int(x) for x in groups.dining_types[g].split(",")]
        typical = {dt: int(rng.integers(MENU_SIZE[dt][0], MENU_SIZE[dt][1] + 1)) for dt in dining}
        maker_last = np.full(len(makers.ids), -100)
        food_last = np.full(len(foods.ids), -100)
        for i, day in enumerate(days):
            for dt in dining:
                served = pools[g][makers.serves[pools[g], DINING_TYPES.index(dt)]]
                lo, hi = MENU_SIZE[dt]
                size = int(np.clip(typical[dt] + rng.integers(-1, 2), lo, hi))
                menu = _pick_menu(rng, served, size, i, day, maker_last, food_last, foods, foods_of_maker)
                if len(menu):
                    slots.append((g, i, dt, menu))
    slots.sort(key=lambda s: (s[1], s[0], s[2]))
    sizes = np.array([len(s[3]) for s in slots])
    stop = np.cumsum(sizes)
    return Menus(slot_group=np.array([s[0] for s in slots]), slot_day=np.array([s[1] for s in slots]),
                 slot_dining=np.array([s[2] for s in slots]), start=stop - sizes, stop=stop,
                 food=np.concatenate([s[3] for s in slots]), daily_food_id=np.arange(1, stop[-1] + 1),
                 days=days, n_past_days=len(past_days))


def _weighted_sample(rng: np.random.Generator, weight: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct positions drawn with probability proportional to ``weight`` (Gumbel top-k)."""
    keys = np.log(weight) + rng.gumbel(size=len(weight))
    return np.argpartition(-keys, k - 1)[:k] if k < len(weight) else np.argsort(-keys)


def _pick_menu(rng: np.random.Generator, served: np.ndarray, size: int, i: int, day: np.datetime64,
               maker_last: np.ndarray, food_last: np.ndarray, foods: Foods,
               foods_of_maker: list[np.ndarray]) -> np.ndarray:
    """One menu: rotating makers, each sending its least recently served foods."""
    n_makers = min(len(served), max(2, -(-size // MAX_FOODS_PER_MAKER) + int(rng.integers(0, 2))))
    weight = np.minimum(i - maker_last[served], 10).astype(float) ** 2 + 0.1
    chosen = served[_weighted_sample(rng, weight, n_makers)]
    menu: list[int] = []
    quota = np.full(n_makers, size // n_makers)
    quota[: size % n_makers] += 1
    for m, q in zip(chosen, np.minimum(quota, MAX_FOODS_PER_MAKER + 1)):
        on_sale = foods_of_maker[m]
        on_sale = on_sale[~(foods.stop_day[on_sale] <= day)]
        if not len(on_sale):
            continue
        order = np.lexsort((rng.random(len(on_sale)), food_last[on_sale]))
        picked = on_sale[order[:q]]
        menu += picked.tolist()
        food_last[picked] = i
        maker_last[m] = i
    return np.array(sorted(menu), dtype=int)
