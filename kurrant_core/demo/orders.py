"""Turn simulated choices into production's order tables and reviews.

One ``order__order`` per user and service day (breakfast and lunch of the same day share it), one
``order__order_item_dailyfood_group`` per order and dining type, one item per chosen food. Orders
are placed one or two days ahead; about 4% are cancelled (취소), the rest are received (수령완료),
and about 15% of received items get a review (리뷰 작성 완료) whose satisfaction follows how much
the user liked the food compared with the rest of the menu.
"""
from __future__ import annotations

import numpy as np

from kurrant_core import codes, schema
from kurrant_core.demo.choices import Choices
from kurrant_core.demo.foods import Foods
from kurrant_core.demo.menus import Menus
from kurrant_core.demo.population import Groups, Users
from kurrant_core.demo.scales import DemoScale
from kurrant_core.demo.writer import Columns, table_columns

SHARE_CANCELLED, SHARE_REVIEWED, SHARE_REVIEW_DELETED = 0.04, 0.15, 0.03
MEMBERSHIP_DISCOUNT = 0.2
MEAL_TIME_S = {codes.BREAKFAST: 8 * 3600, codes.LUNCH: 12 * 3600, codes.DINNER: 18 * 3600 + 1800}
# satisfaction = MEAN + SLOPE x (how much better than the menu's average the food was, minus the usual)
SATISFACTION_MEAN, SATISFACTION_SLOPE, SATISFACTION_NOISE, USUAL_SURPRISE = 4.2, 1.2, 0.7, 1.0

_S = np.timedelta64(1, "s")


def order_tables(rng: np.random.Generator, scale: DemoScale, groups: Groups, users: Users, foods: Foods,
                 menus: Menus, choices: Choices) -> dict:
    """Columns of every order table and of ``review__review``, keyed by SQLAlchemy table."""
    snapshot = np.datetime64(scale.snapshot, "s")
    day_idx = menus.slot_day[choices.slot]
    service_date = menus.days[day_idx]
    dining = menus.slot_dining[choices.slot]
    food = menus.food[choices.menu_row]

    # orders: one per (user, service day), numbered in the order they were placed
    key = choices.user.astype(np.int64) * len(menus.days) + day_idx
    keys, order_of_item = np.unique(key, return_inverse=True)
    o_user, o_day = keys // len(menus.days), keys % len(menus.days)
    lead_days = rng.choice([1, 2], size=len(keys), p=[0.55, 0.45])
    o_created = (menus.days[o_day].astype("datetime64[s]") - lead_days * 86400 * _S
                 + rng.integers(8 * 3600, 23 * 3600, len(keys)) * _S)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[np.lexsort((o_user, o_created))] = np.arange(len(keys))
    order_id = rank + 1
    item_order_id = order_id[order_of_item]

    # items: numbered by order, then dining type
    item_sort = np.lexsort((choices.menu_row, dining, item_order_id))
    n_items = len(item_sort)
    item_order_id, dining, food, service_date = (
        a[item_sort] for a in (item_order_id, dining, food, service_date))
    user = choices.user[item_sort]
    count = choices.count[item_sort]
    surprise = choices.surprise[item_sort]
    daily_food_id = menus.daily_food_id[choices.menu_row[item_sort]]
    item_id = np.arange(1, n_items + 1)
    created = o_created[np.argsort(rank)][item_order_id - 1]

    group_key = item_order_id * 4 + dining
    group_keys, item_group = np.unique(group_key, return_inverse=True)
    item_group_id = item_group + 1

    # status and timestamps
    cancelled = rng.random(n_items) < SHARE_CANCELLED
    meal_time_s = np.zeros(max(MEAL_TIME_S) + 1, dtype=np.int64)
    meal_time_s[list(MEAL_TIME_S)] = list(MEAL_TIME_S.values())
    meal = service_date.astype("datetime64[s]") + meal_time_s[dining] * _S
    received_at = meal + rng.integers(10 * 60, 50 * 60, n_items) * _S
    review_at = service_date.astype("datetime64[s]") + rng.integers(13 * 3600, 3 * 86400, n_items) * _S
    reviewed = ~cancelled & (rng.random(n_items) < SHARE_REVIEWED) & (review_at <= snapshot)
    cancelled_at = np.minimum(created + rng.integers(600, 20 * 3600, n_items) * _S, meal - 3600 * _S)
    status = np.where(cancelled, codes.ORDER_CANCELLED,
                      np.where(reviewed, codes.ORDER_REVIEWED, codes.ORDER_RECEIVED))
    updated = np.where(cancelled, cancelled_at, np.where(reviewed, review_at, received_at))

    unit_price = foods.price[food]
    price = unit_price * count
    discount = np.where(users.membership[user], MEMBERSHIP_DISCOUNT, 0.0)
    discounted = (np.round(price * (1 - discount) / 10) * 10).astype(int)
    total = np.bincount(item_order_id - 1, weights=discounted, minlength=len(keys)).astype(int)

    g_all_cancelled = np.bincount(item_group, weights=~cancelled, minlength=len(group_keys)) == 0
    first_item = np.unique(item_group, return_index=True)[1]

    by_id = np.argsort(rank)
    tables = {
        schema.order: table_columns(
            schema.order, id=order_id[by_id], user_id=users.ids[o_user[by_id]],
            e_order_type=np.full(len(keys), codes.ORDER_TYPE_DAILY), total_price=total,
            created_date_time=o_created[by_id]),
        schema.order_daily_food: table_columns(
            schema.order_daily_food, id=order_id[by_id], spot_id=groups.spot_ids[users.spot[o_user[by_id]]]),
        schema.order_item: table_columns(
            schema.order_item, id=item_id, order_id=item_order_id, e_order_status=status,
            created_date_time=created, updated_date_time=updated),
        schema.order_item_dailyfood: table_columns(
            schema.order_item_dailyfood, id=item_id, daily_food_id=daily_food_id,
            order_item_daily_food_group_id=item_group_id, count=count, price=price,
            discounted_price=discounted),
        schema.order_item_dailyfood_group: table_columns(
            schema.order_item_dailyfood_group, id=np.arange(1, len(group_keys) + 1),
            e_order_status=np.where(g_all_cancelled, codes.ORDER_CANCELLED, codes.ORDER_RECEIVED),
            service_date=service_date[first_item], e_dining_type=dining[first_item]),
    }
    tables[schema.review] = _reviews(rng, snapshot, users, foods, reviewed, review_at, user, food, item_id,
                                     surprise)
    return tables


def _reviews(rng: np.random.Generator, snapshot: np.datetime64, users: Users, foods: Foods,
             reviewed: np.ndarray, review_at: np.ndarray, user: np.ndarray, food: np.ndarray,
             item_id: np.ndarray, surprise: np.ndarray) -> Columns:
    idx = np.flatnonzero(reviewed)
    idx = idx[np.argsort(review_at[idx], kind="stable")]
    n = len(idx)
    liking = SATISFACTION_SLOPE * (surprise[idx] - USUAL_SURPRISE)
    satisfaction = np.clip(np.round(SATISFACTION_MEAN + liking + rng.normal(0, SATISFACTION_NOISE, n)),
                           1, 5).astype(int)
    deleted = rng.random(n) < SHARE_REVIEW_DELETED
    created = review_at[idx]
    deleted_at = np.minimum(created + rng.integers(3600, 5 * 86400, n) * _S, snapshot)
    updated = np.where(deleted, deleted_at, created)
    return table_columns(
        schema.review, id=np.arange(1, n + 1), user_id=users.ids[user[idx]], food_id=foods.ids[food[idx]],
        order_item_id=item_id[idx], satisfaction=satisfaction, is_delete=deleted,
        created_date_time=created, updated_date_time=updated)
