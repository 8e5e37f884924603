"""Who orders what: a discrete-choice model over each group's daily menu.

On a service day each active user orders with their own rate (Fridays are quieter, breakfast and
dinner rarer than lunch) and picks ONLY from their group's menu of that day and dining type, by a
softmax over

    utility = cuisine taste + main-ingredient taste + spice match - price sensitivity x price
              + the food's latent popularity + habit (foods they often had)
              - variety penalty (the same food on the last service days, the same cuisine yesterday)

Foods carrying one of the user's allergens are never chosen. The simulation runs group by group,
one menu at a time, vectorised over the users who order from that menu.
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
CUISINE_WEIGHT, INGREDIENT_WEIGHT, TASTE_FLOOR = 1.3, 0.6, 0.03
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
    """Simulate every order item of the past service days, group by group."""
    past = menus.slot_day < menus.n_past_days
    weekday = (menus.days.astype("datetime64[D]").view("int64") - 4) % 7        # 1970-01-01 = Thu
    first_day = np.searchsorted(menus.days[: menus.n_past_days],
                                users.created.astype("datetime64[D]") + JOIN_TO_FIRST_ORDER_DAYS)
    leave_day = np.where(np.isnat(users.leave), menus.n_past_days,
                         np.searchsorted(menus.days[: menus.n_past_days], users.leave.astype("datetime64[D]")))
    out: list[tuple[np.ndarray, ...]] = []
    for g in np.unique(menus.slot_group):
        members = np.flatnonzero(users.group == g)
        slots = np.flatnonzero(past & (menus.slot_group == g))
        if not len(members) or not len(slots):
            continue
        rows = np.concatenate([np.arange(menus.start[s], menus.stop[s]) for s in slots])
        pool, local = np.unique(menus.food[rows], return_inverse=True)
        local_of_row = dict(zip(rows.tolist(), local.tolist()))
        state = _GroupState(users, members, foods, pool)
        for s in slots:
            day = menus.slot_day[s]
            rows_s = np.arange(menus.start[s], menus.stop[s])
            menu = np.array([local_of_row[r] for r in rows_s])
            rate = (users.order_rate[members] * WEEKDAY_ORDER_FACTOR[weekday[day]]
                    * DINING_ORDER_FACTOR[int(menus.slot_dining[s])])
            active = (first_day[members] <= day) & (day < leave_day[members])
            who = np.flatnonzero(active & (rng.random(len(members)) < rate))
            if len(who):
                out.append(state.choose(rng, who, menu, rows_s, day, s, foods.cuisine[pool]))
    if not out:
        empty = np.empty(0, dtype=int)
        return Choices(empty, empty, empty, empty, np.empty(0))
    user, slot, row, count, surprise = (np.concatenate(x) for x in zip(*out))
    return Choices(user=user, slot=slot, menu_row=row, count=count, surprise=surprise)


class _GroupState:
    """What one group's users have eaten so far (habit counts, last foods, last cuisine)."""

    def __init__(self, users: Users, members: np.ndarray, foods: Foods, pool: np.ndarray):
        self.members = members
        self.base = static_utility(users, members, foods, pool)
        self.blocked = allergic_to(users, members, foods, pool)
        self.habit = users.habit_strength[members]
        self.variety = users.variety_seeking[members]
        n = len(members)
        self.counts = np.zeros((n, len(pool)), dtype=np.float32)
        self.last_food = np.full((n, 2), -1)
        self.last_day = np.full((n, 2), -100)
        self.last_cuisine = np.full(n, -1)

    def choose(self, rng: np.random.Generator, who: np.ndarray, menu: np.ndarray, rows: np.ndarray,
               day: int, slot: int, pool_cuisine: np.ndarray) -> tuple[np.ndarray, ...]:
        util = self.base[np.ix_(who, menu)] + self.habit[who, None] * np.log1p(self.counts[np.ix_(who, menu)])
        recent = (day - self.last_day[who]) <= 2                                       # (w, 2)
        for k, penalty in enumerate(SAME_FOOD_PENALTY):
            same = (self.last_food[who, k][:, None] == menu[None, :]) & recent[:, k][:, None]
            util -= penalty * self.variety[who, None] * same
        yesterday = (day - self.last_day[who, 0]) == 1
        same_cuisine = (self.last_cuisine[who][:, None] == pool_cuisine[menu][None, :]) & yesterday[:, None]
        util -= SAME_CUISINE_PENALTY * self.variety[who, None] * same_cuisine
        util[self.blocked[np.ix_(who, menu)]] = -np.inf
        ok = np.isfinite(util).any(axis=1)
        who, util = who[ok], util[ok]
        if not len(who):
            return tuple(np.empty(0, dtype=int) for _ in range(4)) + (np.empty(0),)
        noisy = util / TEMPERATURE + rng.gumbel(size=util.shape)
        ranked = np.argsort(-noisy, axis=1)
        pick = ranked[:, 0]
        finite = np.where(np.isfinite(util), util, np.nan)
        spread = np.nanstd(finite, axis=1) + 0.3
        chosen_util = util[np.arange(len(who)), pick]
        surprise = (chosen_util - np.nanmean(finite, axis=1)) / spread

        food = menu[pick]
        self.counts[who, food] += 1
        self.last_food[who, 1], self.last_day[who, 1] = self.last_food[who, 0], self.last_day[who, 0]
        self.last_food[who, 0], self.last_day[who, 0] = food, day
        self.last_cuisine[who] = pool_cuisine[food]

        count = np.where(rng.random(len(who)) < SHARE_DOUBLE, 2, 1)
        users_out, rows_out, counts_out, surprise_out = [who], [rows[pick]], [count], [surprise]
        if len(menu) > 1:
            extra = np.flatnonzero((rng.random(len(who)) < SHARE_EXTRA_ITEM)
                                   & np.isfinite(util[np.arange(len(who)), ranked[:, 1]]))
            users_out.append(who[extra])
            rows_out.append(rows[ranked[extra, 1]])
            counts_out.append(np.ones(len(extra), dtype=int))
            surprise_out.append(surprise[extra])
        user = np.concatenate(users_out)
        order = np.argsort(user, kind="stable")
        return (self.members[user][order], np.full(len(user), slot), np.concatenate(rows_out)[order],
                np.concatenate(counts_out)[order], np.concatenate(surprise_out)[order])
