"""Who orders what: a discrete-choice model over each group's daily menu.

On a service day each active user orders with their own rate (Fridays are quieter, breakfast and
dinner rarer than lunch) and picks ONLY from their group's menu of that day and dining type, by a
softmax over

    utility = cuisine taste + main-ingredient taste + spice match - price sensitivity x price
              + the food's latent popularity + habit (foods they often had)
              - variety penalty (the same food on the last service days, the same cuisine yesterday)

Foods carrying one of the user's allergens are never chosen; a user whose whole menu is excluded
skips the day. The simulation steps through (service day, dining type) in time order, vectorised
over every user of every group who orders at that step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kurrant_core import codes
from kurrant_core.demo.calendar import WEEKDAY_ORDER_FACTOR
from kurrant_core.demo.foods import Foods
from kurrant_core.demo.menus import Menus
from kurrant_core.demo.population import Users

TEMPERATURE = 0.7                   # softmax temperature: lower = tastes show more clearly
CUISINE_WEIGHT, INGREDIENT_WEIGHT, TASTE_FLOOR = 1.6, 0.6, 0.03
SPICE_PAIN, SPICE_JOY = 0.8, 0.15
PRICE_SCALE, PRICE_CENTER = 2500.0, 9000.0
SAME_FOOD_PENALTY = (3.0, 1.5)      # x variety seeking, for the food of 1 and 2 service days ago
SAME_CUISINE_PENALTY = 0.5          # x variety seeking, for yesterday's cuisine
DINING_ORDER_FACTOR = {codes.BREAKFAST: 0.35, codes.LUNCH: 1.0, codes.DINNER: 0.4}
JOIN_TO_FIRST_ORDER_DAYS = 3        # the app needs a couple of days before a new user can order
SHARE_EXTRA_ITEM = 0.015            # orders a second, different food for a colleague
SHARE_DOUBLE = 0.04                 # orders two of the same food


@dataclass
class Choices:
    """One row per ordered item, in simulation order."""

    user: np.ndarray                    # user position
    slot: np.ndarray                    # menu slot
    menu_row: np.ndarray                # flat menu row (gives daily_food_id and food)
    count: np.ndarray
    surprise: np.ndarray                # standardised utility of the chosen food within its menu


def static_utility(users: Users, members: np.ndarray, foods: Foods, pool: np.ndarray) -> np.ndarray:
    """The part of the utility that does not change from day to day, (members x pool foods)."""
    cw = users.cuisine_w[members][:, foods.cuisine[pool] - 1]
    iw = users.ingredient_w[members][:, foods.ingredient[pool]]
    tol = users.spice_tolerance[members][:, None]
    spice = foods.spice[pool][None, :]
    price = (foods.price[pool][None, :] - PRICE_CENTER) / PRICE_SCALE
    return (CUISINE_WEIGHT * np.log(cw + TASTE_FLOOR) + INGREDIENT_WEIGHT * np.log(iw + TASTE_FLOOR)
            - SPICE_PAIN * np.maximum(0.0, spice - tol) ** 2 + SPICE_JOY * np.minimum(spice, tol)
            - users.price_sensitivity[members][:, None] * price + foods.quality[pool][None, :])


def allergic_to(users: Users, members: np.ndarray, foods: Foods, pool: np.ndarray) -> np.ndarray:
    """True where a member is allergic to a pool food (hard filter)."""
    return (users.allergy[members].astype(np.int32) @ foods.allergy[pool].T.astype(np.int32)) > 0


def simulate_choices(rng: np.random.Generator, users: Users, foods: Foods, menus: Menus) -> Choices:
    """Simulate every order item of the past service days, one (day, dining type) at a time.

    Each step covers every group at once: a user's menu is their group's slot of that day, as
    indices into the group's pool of foods (padded with -1), so one numpy pass serves them all.
    """
    pools = _GroupPools(users, foods, menus)
    state = _Appetite(users, foods, pools)
    weekday = (menus.days.view("int64") - 4) % 7                                    # 1970-01-01 = Thu
    past_days = menus.days[: menus.n_past_days]
    first_day = np.searchsorted(past_days, users.created.astype("datetime64[D]") + JOIN_TO_FIRST_ORDER_DAYS)
    leave_day = np.where(np.isnat(users.leave), menus.n_past_days,
                         np.searchsorted(past_days, users.leave.astype("datetime64[D]")))
    n_groups = pools.cuisine.shape[0]
    out: list[tuple[np.ndarray, ...]] = []
    order = np.lexsort((menus.slot_group, menus.slot_dining, menus.slot_day))
    step = menus.slot_day[order] * 10 + menus.slot_dining[order]
    bounds = np.flatnonzero(np.diff(np.r_[-1, step, -1]))
    for first, last in zip(bounds[:-1], bounds[1:]):
        slots = order[first:last]
        day, dining = int(menus.slot_day[slots[0]]), int(menus.slot_dining[slots[0]])
        if day >= menus.n_past_days:
            break
        slot_of_group = np.full(n_groups, -1)
        slot_of_group[menus.slot_group[slots]] = slots
        slot = slot_of_group[users.group]
        rate = users.order_rate * WEEKDAY_ORDER_FACTOR[weekday[day]] * DINING_ORDER_FACTOR[dining]
        ordering = (slot >= 0) & (first_day <= day) & (day < leave_day) & (rng.random(len(slot)) < rate)
        who = np.flatnonzero(ordering)
        if len(who):
            out.append(state.choose(rng, who, slot[who], day))
    if not out:
        empty = np.empty(0, dtype=int)
        return Choices(empty, empty, empty, empty, np.empty(0))
    user, slot, row, count, surprise = (np.concatenate(x) for x in zip(*out))
    return Choices(user=user, slot=slot, menu_row=row, count=count, surprise=surprise)


class _GroupPools:
    """Each group's foods as local indices, and every menu slot as a padded row of those indices."""

    def __init__(self, users: Users, foods: Foods, menus: Menus):
        n_groups = int(max(users.group.max(), menus.slot_group.max())) + 1
        sizes = menus.stop - menus.start
        slot_of_row = np.repeat(np.arange(len(sizes)), sizes)
        group_of_row = menus.slot_group[slot_of_row]
        row_key = group_of_row.astype(np.int64) * len(foods.ids) + menus.food
        pairs = np.unique(row_key)                                   # sorted (group, food) pairs
        pool_group, pool_food = pairs // len(foods.ids), pairs % len(foods.ids)
        start = np.searchsorted(pool_group, np.arange(n_groups))
        local = np.arange(len(pairs)) - start[pool_group]
        width = int(local.max()) + 1
        self.food = np.full((n_groups, width), -1)                # group x local index -> food position
        self.food[pool_group, local] = pool_food
        self.cuisine = np.where(self.food >= 0, foods.cuisine[self.food], -1)
        self.menu = np.full((len(sizes), int(sizes.max())), -1)  # slot x position -> local index
        position = np.arange(len(slot_of_row)) - menus.start[slot_of_row]
        self.menu[slot_of_row, position] = local[np.searchsorted(pairs, row_key)]
        self.row_start = menus.start


class _Appetite:
    """Every user's static utility over their group's pool, and what they have eaten so far."""

    def __init__(self, users: Users, foods: Foods, pools: _GroupPools):
        self.pools = pools
        self.group = users.group
        n, width = len(users.ids), pools.food.shape[1]
        self.base = np.full((n, width), -np.inf)
        self.blocked = np.ones((n, width), dtype=bool)
        for g in range(pools.food.shape[0]):
            members, pool = np.flatnonzero(users.group == g), pools.food[g][pools.food[g] >= 0]
            if len(members) and len(pool):
                columns = np.ix_(members, np.arange(len(pool)))
                self.base[columns] = static_utility(users, members, foods, pool)
                self.blocked[columns] = allergic_to(users, members, foods, pool)
        self.habit = users.habit_strength
        self.variety = users.variety_seeking
        self.counts = np.zeros((n, width), dtype=np.float32)
        self.last_food = np.full((n, 2), -1)
        self.last_day = np.full((n, 2), -100)
        self.last_cuisine = np.full(n, -1)

    def choose(self, rng: np.random.Generator, who: np.ndarray, slot: np.ndarray,
               day: int) -> tuple[np.ndarray, ...]:
        """Each user in ``who`` picks from their menu ``slot``; returns the ordered items."""
        menu = self.pools.menu[slot]                                                  # (w, k) local
        offered = menu >= 0
        menu = np.where(offered, menu, 0)
        u = who[:, None]
        util = self.base[u, menu] + self.habit[u] * np.log1p(self.counts[u, menu])
        recent = (day - self.last_day[who]) <= 2                                       # (w, 2)
        for k, penalty in enumerate(SAME_FOOD_PENALTY):
            same = (self.last_food[who, k][:, None] == menu) & recent[:, k][:, None]
            util -= penalty * self.variety[u] * same
        cuisine = self.pools.cuisine[self.group[u], menu]
        yesterday = (day - self.last_day[who, 0]) == 1
        same_cuisine = (self.last_cuisine[u] == cuisine) & yesterday[:, None]
        util -= SAME_CUISINE_PENALTY * self.variety[u] * same_cuisine
        util[~offered | self.blocked[u, menu]] = -np.inf
        possible = np.isfinite(util)
        ok = possible.any(axis=1)
        who, slot, menu, util, possible, cuisine = (
            a[ok] for a in (who, slot, menu, util, possible, cuisine))
        if not len(who):
            return tuple(np.empty(0, dtype=int) for _ in range(4)) + (np.empty(0),)
        noisy = util / TEMPERATURE + rng.gumbel(size=util.shape)
        ranked = np.argsort(-noisy, axis=1)
        pick = ranked[:, 0]
        line = np.arange(len(who))
        n_possible = possible.sum(axis=1)
        finite = np.where(possible, util, 0.0)
        mean = finite.sum(axis=1) / n_possible
        variance = np.where(possible, (finite - mean[:, None]) ** 2, 0.0).sum(axis=1) / n_possible
        spread = np.sqrt(variance) + 0.3
        surprise = (util[line, pick] - mean) / spread

        food = menu[line, pick]
        self.counts[who, food] += 1
        self.last_food[who, 1], self.last_day[who, 1] = self.last_food[who, 0], self.last_day[who, 0]
        self.last_food[who, 0], self.last_day[who, 0] = food, day
        self.last_cuisine[who] = cuisine[line, pick]

        count = np.where(rng.random(len(who)) < SHARE_DOUBLE, 2, 1)
        extra = np.flatnonzero((rng.random(len(who)) < SHARE_EXTRA_ITEM) & (n_possible > 1))
        row = self.pools.row_start[slot]
        return (np.r_[who, who[extra]], np.r_[slot, slot[extra]],
                np.r_[row + pick, row[extra] + ranked[extra, 1]],
                np.r_[count, np.ones(len(extra), dtype=int)], np.r_[surprise, surprise[extra]])
