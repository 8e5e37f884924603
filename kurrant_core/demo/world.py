"""``generate_demo_world``: a deterministic Kurrant world in the raw mirror tables.

The steps run in a fixed order from one ``numpy.random.default_rng(seed)``, and every date is a
fixed calendar date, so a seed always gives identical tables. The world is built in memory as
numpy columns, then the raw tables are emptied and bulk-loaded.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import sqlalchemy as sa

from kurrant_core import codes, schema
from kurrant_core.demo import calendar
from kurrant_core.demo.capacity import food_capacity, maker_capacity, peak_loads
from kurrant_core.demo.choices import simulate_choices
from kurrant_core.demo.foods import ALLERGY_CODES, DINING_TYPES, Foods, Makers, build_foods, build_makers, capacity_rows
from kurrant_core.demo.menus import Menus, group_pools, plan_menus
from kurrant_core.demo.opt_in import opt_in_settings
from kurrant_core.demo.orders import order_tables
from kurrant_core.demo.population import Groups, Users, build_groups, build_users, survey_time, taste_records
from kurrant_core.demo.scales import DemoScale, get_scale
from kurrant_core.demo.writer import Columns, replace_tables, table_columns

log = logging.getLogger(__name__)

WORLD_TABLES: list[sa.Table] = [*schema.RAW_TABLES, schema.demo_user_taste, schema.auto_order_setting]
CAPACITY_STREAM, OPT_IN_STREAM = 101, 102
"""Seeds (with the world's seed) of the separate random streams for capacities and opt-ins, so that
adding them left every other table of a seed unchanged."""
MENU_CLOSING_S = 17 * 3600 - 86400        # menus close (주문마감) at 17:00 the day before service
MENU_PUBLISHED_S = 10 * 3600 - 4 * 86400  # upcoming menus were registered at 10:00, 4 days before the end


def generate_demo_world(engine: sa.Engine, scale: str = "demo", seed: int = 42) -> dict[str, int]:
    """Fill the raw mirror tables and ``demo__user_taste`` with a generated world.

    Existing rows of those tables are deleted first. Returns the number of rows per table.
    Raises KurrantError for an unknown scale.
    """
    size = get_scale(scale)
    tables = build_world(size, seed)
    log.info("generated the %s world (seed %s); writing %s rows", scale, seed,
             sum(len(next(iter(columns.values()))) for columns in tables.values()))
    return replace_tables(engine, {table: tables[table] for table in WORLD_TABLES})


def build_world(scale: DemoScale, seed: int) -> dict[sa.Table, Columns]:
    """The whole world as columns per table, without touching a database."""
    rng = np.random.default_rng(seed)
    makers = build_makers(rng, scale)
    foods = build_foods(rng, scale, makers)
    groups = build_groups(rng, scale)
    users = build_users(rng, scale, groups)
    pools = group_pools(rng, scale, groups, makers)
    past = calendar.service_days(scale.start, scale.end)
    upcoming = calendar.next_service_days(scale.end, scale.upcoming_days)
    menus = plan_menus(rng, groups, makers, foods, pools, past, upcoming)
    choices = simulate_choices(rng, users, foods, menus)
    makers, food_caps = _binding_capacities(np.random.default_rng([seed, CAPACITY_STREAM]), makers, foods,
                                            menus, choices)
    tables = {
        **_catalog_tables(makers, foods, food_caps),
        **_group_tables(groups),
        **_user_tables(rng, scale, groups, users),
        schema.daily_food: _daily_food(scale, groups, foods, menus),
        **order_tables(rng, scale, groups, users, foods, menus, choices),
        schema.auto_order_setting: opt_in_settings(np.random.default_rng([seed, OPT_IN_STREAM]), scale, groups,
                                                   users, foods, makers),
    }
    return tables


def _binding_capacities(rng: np.random.Generator, makers: Makers, foods: Foods, menus: Menus,
                        choices) -> tuple[Makers, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Makers with capacities from their simulated peak loads, and the food capacity rows."""
    food = menus.food[choices.menu_row]
    dining = np.searchsorted(np.array(DINING_TYPES), menus.slot_dining[choices.slot])
    day = menus.slot_day[choices.slot]
    n_d = len(DINING_TYPES)
    maker_peak = peak_loads(foods.maker_pos[food] * n_d + dining, day, choices.count, len(makers.ids) * n_d)
    makers = replace(makers, capacity=maker_capacity(rng, maker_peak.reshape(-1, n_d), makers.serves))
    food_peak = peak_loads(food * n_d + dining, day, choices.count, len(foods.ids) * n_d)
    pos, food_dining, _ = capacity_rows(makers, foods)
    rows_peak = food_peak[pos * n_d + np.searchsorted(np.array(DINING_TYPES), food_dining)]
    return makers, (pos, food_dining, food_capacity(rng, rows_peak))


def _catalog_tables(makers: Makers, foods: Foods,
                    food_caps: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[sa.Table, Columns]:
    dining = np.tile(np.array(DINING_TYPES), len(makers.ids))
    maker_of = np.repeat(np.arange(len(makers.ids)), len(DINING_TYPES))
    served = makers.serves.ravel()
    food_pos, food_dining, food_capacity = food_caps
    return {
        schema.makers: table_columns(
            schema.makers, id=makers.ids, name=makers.names, e_service_type=makers.service_type,
            e_service_form=makers.service_form, is_active=np.ones(len(makers.ids), dtype=bool)),
        schema.makers_capacity: table_columns(
            schema.makers_capacity, id=np.arange(1, served.sum() + 1), makers_id=makers.ids[maker_of[served]],
            dining_type=dining[served], capacity=makers.capacity.ravel()[served]),
        schema.food: table_columns(
            schema.food, id=foods.ids, name=foods.names, description=foods.descriptions,
            makers_id=makers.ids[foods.maker_pos], e_status=foods.status, price=foods.price,
            supply_price=foods.supply_price, e_food_tags=foods.tags, calorie=foods.calorie,
            carbohydrate=foods.carbohydrate, fat=foods.fat, protein=foods.protein,
            created_date_time=foods.created, updated_date_time=foods.updated),
        schema.food_capacity: table_columns(
            schema.food_capacity, id=np.arange(1, len(food_pos) + 1), food_id=foods.ids[food_pos],
            dining_type=food_dining, capacity=food_capacity),
    }


def _group_tables(groups: Groups) -> dict[sa.Table, Columns]:
    n = len(groups.ids)
    return {
        schema.client_group: table_columns(
            schema.client_group, id=groups.ids, dtype=groups.dtype, name=groups.names,
            dining_types=groups.dining_types, is_active=np.ones(n, dtype=bool)),
        schema.client_spot: table_columns(
            schema.client_spot, id=groups.spot_ids, name=groups.spot_names,
            client_group_id=groups.ids[groups.spot_group],
            dining_types=[groups.dining_types[g] for g in groups.spot_group],
            status=np.ones(len(groups.spot_ids), dtype=int)),
    }


def _user_tables(rng: np.random.Generator, scale: DemoScale, groups: Groups,
                 users: Users) -> dict[sa.Table, Columns]:
    n = len(users.ids)
    left = ~np.isnat(users.leave)
    updated = np.maximum(users.recent_login, np.where(left, users.leave, users.created))
    allergic = users.allergy.any(axis=1)
    vegan = users.vegan_level > 0
    has_row = users.has_survey | allergic | vegan
    rows = np.flatnonzero(has_row)
    allergy_info = [codes.join_codes(np.array(ALLERGY_CODES)[users.allergy[u]]) or None for u in rows]
    favorites = [codes.join_codes(users.favorites[u]) if users.has_survey[u] else None for u in rows]
    vegan_level = [int(users.vegan_level[u]) if users.has_survey[u] or vegan[u] else None for u in rows]
    tastes = taste_records(users)
    return {
        schema.user_user: table_columns(
            schema.user_user, id=users.ids, e_role=users.role,
            e_user_status=np.where(users.withdrawn, codes.USER_WITHDRAWN, codes.USER_ACTIVE),
            is_membership=users.membership, created_date_time=users.created,
            recent_login_date_time=users.recent_login, updated_date_time=updated),
        schema.user_group: table_columns(
            schema.user_group, id=users.ids, user_id=users.ids, group_id=groups.ids[users.group],
            client_status=np.where(left, codes.CLIENT_WITHDRAWN, codes.CLIENT_BELONG),
            created_date_time=users.created, updated_date_time=np.where(left, users.leave, users.created)),
        schema.user_spot: table_columns(
            schema.user_spot, id=users.ids, user_id=users.ids, spot_id=groups.spot_ids[users.spot],
            is_default=np.ones(n, dtype=bool)),
        schema.user_preference: table_columns(
            schema.user_preference, id=np.arange(1, len(rows) + 1), user_id=users.ids[rows],
            favorite_country_food=favorites, allergy_info=allergy_info, is_vegan=vegan[rows],
            vegan_level=vegan_level, updated_date_time=survey_time(rng, users, scale.snapshot)[rows]),
        schema.demo_user_taste: table_columns(
            schema.demo_user_taste, user_id=users.ids, spice_tolerance=users.spice_tolerance,
            price_sensitivity=users.price_sensitivity, variety_seeking=users.variety_seeking,
            order_rate=users.order_rate, **tastes),
    }


def _daily_food(scale: DemoScale, groups: Groups, foods: Foods, menus: Menus) -> Columns:
    sizes = menus.stop - menus.start
    slot = np.repeat(np.arange(len(sizes)), sizes)
    day = menus.slot_day[slot]
    upcoming = day >= menus.n_past_days
    service_date = menus.days[day]
    closed_at = service_date.astype("datetime64[s]") + np.timedelta64(MENU_CLOSING_S, "s")
    published = np.datetime64(scale.end, "s") + np.timedelta64(MENU_PUBLISHED_S, "s")
    return table_columns(
        schema.daily_food, id=menus.daily_food_id, e_dining_type=menus.slot_dining[slot],
        service_date=service_date, food_id=foods.ids[menus.food], group_id=groups.ids[menus.slot_group[slot]],
        e_status=np.where(upcoming, codes.DAILY_FOOD_ON_SALE, codes.DAILY_FOOD_CLOSED),
        default_price=foods.price[menus.food],
        updated_date_time=np.where(upcoming, published, closed_at))
