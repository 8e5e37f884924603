"""The DE database schema in SQLAlchemy Core: raw mirror, marts, shared output format, jobs, sync.

Raw mirror tables keep production's table and column names and integer codes (the sync is a copy,
not a translation) and drop every PII column. Marts are what pages and training read. Everything
runs on SQLite and MySQL/MariaDB; ``create_all`` is idempotent.
"""
from __future__ import annotations

import functools
import hashlib

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

from kurrant_core import columns as C

metadata = MetaData()

# BIGINT ids on MySQL, INTEGER on SQLite (so autoincrement maps to the rowid there).
Id = BigInteger().with_variant(Integer(), "sqlite")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
DayString = Text().with_variant(mysql.TEXT(charset="ascii", collation="ascii_bin"), "mysql", "mariadb")
"""One character per day (see ``kurrant_core.day_counts``): single-byte on MySQL, where SUBSTR and
REPLACE on utf8mb4 text are 3-5x slower."""


def _pk(name: str = "id", autoincrement: bool = False) -> Column:
    return Column(name, Id, primary_key=True, autoincrement=autoincrement)


# ---------------------------------------------------------------------------------------------
# Raw mirror (production names; no PII: no user names, e-mails, phones, addresses, birth dates)
# ---------------------------------------------------------------------------------------------
client_group = Table(
    "client__group", metadata, _pk(),
    Column("dtype", SmallInteger, nullable=False),
    Column("name", String(100), nullable=False),           # a company name, not personal data
    Column("dining_types", String(20), nullable=False),
    Column("is_active", Boolean, nullable=False),
)
client_spot = Table(
    "client__spot", metadata, _pk(),
    Column("name", String(100), nullable=False),
    Column("client_group_id", Id, nullable=False, index=True),
    Column("dining_types", String(20), nullable=False),
    Column("status", SmallInteger, nullable=False),
)
user_user = Table(
    "user__user", metadata, _pk(),
    Column("e_role", SmallInteger, nullable=False),
    Column("e_user_status", SmallInteger, nullable=False),
    Column("is_membership", Boolean, nullable=False),
    Column("created_date_time", DateTime, nullable=False),
    Column("recent_login_date_time", DateTime),
    Column("updated_date_time", DateTime, nullable=False, index=True),
)
user_group = Table(
    "user__user_group", metadata, _pk(),
    Column("user_id", Id, nullable=False, index=True),
    Column("group_id", Id, nullable=False, index=True),
    Column("client_status", SmallInteger, nullable=False),
    Column("created_date_time", DateTime, nullable=False),
    # when client_status became 0 (withdrawn): the user left the group
    Column("updated_date_time", DateTime, nullable=False, index=True),
)
user_spot = Table(
    "user__user_spot", metadata, _pk(),
    Column("user_id", Id, nullable=False, index=True),
    Column("spot_id", Id, nullable=False),
    Column("is_default", Boolean, nullable=False),
)
user_preference = Table(
    "user__preference", metadata, _pk(),
    Column("user_id", Id, nullable=False, unique=True),
    Column("favorite_country_food", String(200)),
    Column("allergy_info", String(200)),
    Column("is_vegan", Boolean, nullable=False),
    Column("vegan_level", SmallInteger),
    Column("updated_date_time", DateTime, nullable=False, index=True),
)
makers = Table(
    "makers__makers", metadata, _pk(),
    Column("name", String(100), nullable=False),
    Column("e_service_type", SmallInteger, nullable=False),
    Column("e_service_form", SmallInteger, nullable=False),
    Column("is_active", Boolean, nullable=False),
)
makers_capacity = Table(
    "makers__makers_capacity", metadata, _pk(),
    Column("makers_id", Id, nullable=False, index=True),
    Column("dining_type", SmallInteger, nullable=False),
    Column("capacity", Integer, nullable=False),
)
food = Table(
    "food__food", metadata, _pk(),
    Column("name", String(100), nullable=False),
    Column("description", String(500)),
    Column("makers_id", Id, nullable=False, index=True),
    Column("e_status", SmallInteger, nullable=False),
    Column("price", Integer, nullable=False),
    Column("supply_price", Integer, nullable=False),
    Column("e_food_tags", String(300), nullable=False),
    Column("calorie", Float), Column("carbohydrate", Float), Column("fat", Float), Column("protein", Float),
    Column("created_date_time", DateTime, nullable=False),
    Column("updated_date_time", DateTime, nullable=False, index=True),
)
food_capacity = Table(
    "food__food_capacity", metadata, _pk(),
    Column("food_id", Id, nullable=False, index=True),
    Column("dining_type", SmallInteger, nullable=False),
    Column("capacity", Integer, nullable=False),
)
daily_food = Table(
    "food__daily_food", metadata, _pk(),
    Column("e_dining_type", SmallInteger, nullable=False),
    Column("service_date", Date, nullable=False),
    Column("food_id", Id, nullable=False, index=True),
    Column("group_id", Id, nullable=False),
    Column("e_status", SmallInteger, nullable=False),
    Column("default_price", Integer, nullable=False),
    Column("updated_date_time", DateTime, nullable=False, index=True),
    Index("ix_daily_food_group_date", "group_id", "service_date"),
    Index("ix_daily_food_date", "service_date"),
)
order = Table(
    "order__order", metadata, _pk(),
    Column("user_id", Id, nullable=False, index=True),
    Column("e_order_type", SmallInteger, nullable=False),
    Column("total_price", Integer, nullable=False),
    Column("created_date_time", DateTime, nullable=False),
)
order_daily_food = Table(
    "order__daily_food", metadata, _pk(),
    Column("spot_id", Id, nullable=False),
)
order_item = Table(
    "order__order_item", metadata, _pk(),
    Column("order_id", Id, nullable=False, index=True),
    Column("e_order_status", SmallInteger, nullable=False),
    Column("created_date_time", DateTime, nullable=False),
    Column("updated_date_time", DateTime, nullable=False, index=True),
)
order_item_dailyfood = Table(
    "order__order_item_dailyfood", metadata, _pk(),
    Column("daily_food_id", Id, nullable=False, index=True),
    Column("order_item_daily_food_group_id", Id, nullable=False, index=True),
    Column("count", Integer, nullable=False),
    Column("price", Integer, nullable=False),
    Column("discounted_price", Integer, nullable=False),
)
order_item_dailyfood_group = Table(
    "order__order_item_dailyfood_group", metadata, _pk(),
    Column("e_order_status", SmallInteger, nullable=False),
    Column("service_date", Date, nullable=False, index=True),
    Column("e_dining_type", SmallInteger, nullable=False),
)
review = Table(
    "review__review", metadata, _pk(),
    Column("user_id", Id, nullable=False, index=True),
    Column("food_id", Id, nullable=False, index=True),
    Column("order_item_id", Id, nullable=False, index=True),
    Column("satisfaction", SmallInteger, nullable=False),
    Column("is_delete", Boolean, nullable=False),
    Column("created_date_time", DateTime, nullable=False),
    Column("updated_date_time", DateTime, nullable=False, index=True),
)

RAW_TABLES: list[Table] = [
    client_group, client_spot, user_user, user_group, user_spot, user_preference, makers,
    makers_capacity, food, food_capacity, daily_food, order, order_daily_food, order_item,
    order_item_dailyfood, order_item_dailyfood_group, review,
]

# Demo-only ground truth: the latent tastes the demo world drew for each user. Never synced.
demo_user_taste = Table(
    "demo__user_taste", metadata,
    Column(C.USER_ID, Id, primary_key=True, autoincrement=False),
    Column("top_cuisine", SmallInteger, nullable=False),        # FoodTag 1-7
    Column("top_ingredient", SmallInteger, nullable=False),     # FoodTag 3001-3013
    Column("spice_tolerance", Float, nullable=False),           # 0 (none) .. 3 (불닭)
    Column("price_sensitivity", Float, nullable=False),
    Column("variety_seeking", Float, nullable=False),
    Column("order_rate", Float, nullable=False),                # P(orders on a service day)
    Column("taste_json", Text, nullable=False),                 # full weight vectors
)

# ---------------------------------------------------------------------------------------------
# Marts: built by preprocess from the raw mirror; one row per ordered item / food / menu slot / user
# ---------------------------------------------------------------------------------------------
mart_order_item = Table(
    "mart_order_item", metadata,
    Column(C.ORDER_ITEM_ID, Id, primary_key=True, autoincrement=False),
    Column(C.ORDER_ID, Id, nullable=False),
    Column(C.USER_ID, Id, nullable=False),
    Column(C.GROUP_ID, Id, nullable=False),
    Column(C.SPOT_ID, Id, nullable=False),
    Column(C.DAILY_FOOD_ID, Id, nullable=False),
    Column(C.FOOD_ID, Id, nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.CUISINE_CODE, SmallInteger),
    Column(C.SERVICE_DATE, Date, nullable=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.COUNT, Integer, nullable=False),
    Column(C.PRICE, Integer, nullable=False),              # line total: unit price x count
    Column(C.DISCOUNTED_PRICE, Integer, nullable=False),
    Column(C.ORDER_STATUS, SmallInteger, nullable=False),
    Column(C.IS_PAID, Boolean, nullable=False),
    Column(C.IS_CANCELLED, Boolean, nullable=False),
    Column(C.ORDERED_AT, DateTime, nullable=False),
    Column(C.SATISFACTION, SmallInteger),
    # Covering index for date-range scans (order EDA): every column the EDA aggregates read, so a
    # range of days is read from the index alone, without a row lookup per item (2-3x faster).
    Index("ix_moi_date_cover", C.SERVICE_DATE, C.DINING_TYPE, C.IS_PAID, C.GROUP_ID, C.SPOT_ID, C.MAKERS_ID,
          C.CUISINE_CODE, C.FOOD_ID, C.USER_ID, C.ORDER_ID, C.DAILY_FOOD_ID, C.COUNT, C.PRICE, C.IS_CANCELLED,
          C.SATISFACTION),
    # a patch reads the changed users' items by user (their day counts are redone whole)
    Index("ix_moi_user_date", C.USER_ID, C.SERVICE_DATE, C.IS_PAID),
    Index("ix_moi_food_date", C.FOOD_ID, C.SERVICE_DATE),
    # a filter on one of these reads its items of the date range only (the page's fallback from a
    # rollup finer than that filter): a maker's 4k items of 28 days, not its 75k of the year. Not
    # cuisine: one cuisine is ~30 % of the items, cheaper to read off the covering date index.
    Index("ix_moi_group_date", C.GROUP_ID, C.SERVICE_DATE),
    Index("ix_moi_makers_date", C.MAKERS_ID, C.SERVICE_DATE),
    Index("ix_moi_spot_date", C.SPOT_ID, C.SERVICE_DATE),
)
mart_food = Table(
    "mart_food", metadata,
    Column(C.FOOD_ID, Id, primary_key=True, autoincrement=False),
    Column(C.FOOD_NAME, String(100), nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.MAKERS_NAME, String(100), nullable=False),
    Column(C.MAKERS_SERVICE_TYPE, SmallInteger, nullable=False),
    Column(C.FOOD_STATUS, SmallInteger, nullable=False),
    Column(C.PRICE, Integer, nullable=False),
    Column(C.SUPPLY_PRICE, Integer, nullable=False),
    Column(C.FOOD_TAGS, String(300), nullable=False),
    Column(C.CUISINE_CODE, SmallInteger), Column(C.CUISINE_LABEL, String(40), nullable=False),
    Column(C.MAIN_INGREDIENT_CODE, SmallInteger), Column(C.MAIN_INGREDIENT_LABEL, String(40), nullable=False),
    Column(C.SPICINESS_CODE, SmallInteger), Column(C.SPICINESS_LABEL, String(40), nullable=False),
    Column(C.FOOD_TYPE_CODE, SmallInteger), Column(C.FOOD_TYPE_LABEL, String(40), nullable=False),
    Column(C.ALLERGY_TAGS, String(200), nullable=False),
    Column(C.CALORIE, Float), Column(C.CARBOHYDRATE, Float), Column(C.FAT, Float), Column(C.PROTEIN, Float),
    Column(C.CREATED_AT, DateTime, nullable=False),
    Index("ix_mart_food_makers", C.MAKERS_ID, C.MAKERS_NAME),
)
mart_daily_menu = Table(
    "mart_daily_menu", metadata,
    Column(C.DAILY_FOOD_ID, Id, primary_key=True, autoincrement=False),
    Column(C.SERVICE_DATE, Date, nullable=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.GROUP_ID, Id, nullable=False),
    Column(C.FOOD_ID, Id, nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.DAILY_FOOD_STATUS, SmallInteger, nullable=False),
    Column(C.PRICE, Integer, nullable=False),
    Index("ix_mdm_group_date", C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE),
    # covers the take-rate scan of a date range's menus (InnoDB adds the key, daily_food_id)
    Index("ix_mdm_date_slot", C.SERVICE_DATE, C.GROUP_ID, C.DINING_TYPE, C.FOOD_ID),
    Index("ix_mdm_food", C.FOOD_ID),
)
mart_user = Table(
    "mart_user", metadata,
    Column(C.USER_ID, Id, primary_key=True, autoincrement=False),
    Column(C.GROUP_ID, Id),
    Column(C.GROUP_NAME, String(100)),
    Column(C.SPOT_ID, Id),
    Column(C.SPOT_NAME, String(100)),
    Column(C.JOINED_ON, Date, nullable=False),
    Column(C.LEFT_ON, Date),
    Column(C.USER_STATUS, SmallInteger, nullable=False),
    Column(C.IS_MEMBERSHIP, Boolean, nullable=False),
    Column(C.HAS_SURVEY, Boolean, nullable=False),
    Column(C.FAVORITE_TAGS, String(200), nullable=False),
    Column(C.ALLERGY_TAGS, String(200), nullable=False),
    Column(C.IS_VEGAN, Boolean, nullable=False),
    Column(C.VEGAN_LEVEL, SmallInteger),
    Column(C.FIRST_ORDER_DATE, Date),
    Column(C.LAST_ORDER_DATE, Date),
    Column(C.N_ITEMS, Integer, nullable=False),
    # (id, name) pairs: the EDA filter lists read their choices off these indexes alone
    Index("ix_mart_user_group", C.GROUP_ID, C.GROUP_NAME),
    Index("ix_mart_user_spot", C.SPOT_ID, C.SPOT_NAME),
)

# Rollups of mart_order_item for the order EDA page (kurrant_core.rollups builds them). Each keeps
# a paid and an all-statuses variant of every measure, so the page's "paid only" switch is a
# choice of column, not a rescan. Revenue counts paid items only; paid items are never cancelled.
def _rollup_measures(*names: str) -> list[Column]:
    return [Column(name, BigInteger().with_variant(Integer(), "sqlite"), nullable=False) for name in names]


ROLLUP_ITEM_MEASURES = (C.N_ITEMS, C.N_ITEMS_PAID, C.N_CANCELLED, C.REVENUE, C.SATISFACTION_SUM, C.N_REVIEWS,
                        C.SATISFACTION_SUM_PAID, C.N_REVIEWS_PAID)


def _day_count_columns() -> list[Column]:
    return [Column(C.FIRST_DAY, Date, nullable=False),        # the same for every row: the mart's first date
            Column(C.DAY_ITEMS, DayString, nullable=False),   # items of any status per day
            Column(C.DAY_ITEMS_PAID, DayString, nullable=False),
            Column(C.PEAK_DAY_ITEMS, Integer, nullable=False),  # the row's largest day count (any status)
            Column(C.COHORT_WEEK, Date)]                      # Monday of the user's first paid day, all groups


mart_menu_orders = Table(
    # what was ordered from one daily-menu food at one unit price (line total / count)
    "mart_menu_orders", metadata,
    Column(C.SERVICE_DATE, Date, primary_key=True),     # first: the rows of a date range lie together
    Column(C.DAILY_FOOD_ID, Id, primary_key=True, autoincrement=False),
    Column(C.UNIT_PRICE, Integer, primary_key=True, autoincrement=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.GROUP_ID, Id, nullable=False),
    Column(C.FOOD_ID, Id, nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.CUISINE_CODE, SmallInteger),
    *_rollup_measures(*ROLLUP_ITEM_MEASURES),
    Index("ix_mmo_food_date", C.FOOD_ID, C.SERVICE_DATE),
    sqlite_with_rowid=False,
)


def _meal_rollup(name: str, *extra_key: Column) -> Table:
    """A rollup per spot's meal (service date x dining type x group x spot, plus ``extra_key``):
    distinct orders and users there, and the item measures."""
    return Table(
        name, metadata,
        Column(C.SERVICE_DATE, Date, primary_key=True),
        Column(C.DINING_TYPE, SmallInteger, primary_key=True, autoincrement=False),
        Column(C.GROUP_ID, Id, primary_key=True, autoincrement=False),
        Column(C.SPOT_ID, Id, primary_key=True, autoincrement=False),
        *extra_key,
        *_rollup_measures(C.N_ORDERS, C.N_ORDERS_PAID, C.N_USERS, C.N_USERS_PAID, *ROLLUP_ITEM_MEASURES),
        sqlite_with_rowid=False,
    )


mart_slot_orders = _meal_rollup("mart_slot_orders")
# the same per cuisine (items of foods with a cuisine tag only): distinct orders and users do not
# add up over cuisines, so a one-cuisine filter needs its own rows
mart_slot_cuisine_orders = _meal_rollup(
    "mart_slot_cuisine_orders", Column(C.CUISINE_CODE, SmallInteger, primary_key=True, autoincrement=False))

mart_user_activity = Table(
    # how many items a user had on each day at one spot's meal type: character i of a day-count
    # string stands for first_day + i days (see kurrant_core.day_counts); a string ends at the row's
    # last day with items. Active users and items per user of any date range are then a substring
    # test or count over one row per user, not a COUNT(DISTINCT) or GROUP BY over every item row.
    "mart_user_activity", metadata,
    Column(C.USER_ID, Id, primary_key=True, autoincrement=False),
    Column(C.GROUP_ID, Id, primary_key=True, autoincrement=False),
    Column(C.SPOT_ID, Id, primary_key=True, autoincrement=False),
    Column(C.DINING_TYPE, SmallInteger, primary_key=True, autoincrement=False),
    *_day_count_columns(),
)
mart_user_days = Table(
    # the same day counts per user over every group, spot and meal: one row per user, so views
    # without a group, spot or meal filter count users without a COUNT(DISTINCT) or a GROUP BY
    "mart_user_days", metadata,
    Column(C.USER_ID, Id, primary_key=True, autoincrement=False),
    *_day_count_columns(),
    # the largest count of any row: how many digits an items-per-user sum must read (one index probe)
    Index("ix_mud_peak", C.PEAK_DAY_ITEMS),
)
def _copied(table: Table, *names: str, key: tuple[str, ...] = ()) -> list[Column]:
    """Columns of ``table`` again, with the same types and nullability; ``key`` the new primary key."""
    return [Column(name, table.c[name].type, primary_key=name in key, autoincrement=False,
                   nullable=table.c[name].nullable and name not in key) for name in names]


mart_item_slim = Table(
    # a narrow copy of the item mart, clustered by date, with each item's days since its user last
    # had the same food (a paid item, any meal; 0 = earlier the same day; NULL = never before)
    "mart_item_slim", metadata,
    *_copied(mart_order_item, C.SERVICE_DATE, C.ORDER_ITEM_ID, C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SPOT_ID,
             C.DINING_TYPE, C.MAKERS_ID, C.CUISINE_CODE, C.IS_PAID, C.COUNT,
             key=(C.SERVICE_DATE, C.ORDER_ITEM_ID)),
    Column(C.DAYS_BETWEEN, Integer),
    sqlite_with_rowid=False,
)
ROLLUP_TABLES: list[Table] = [mart_menu_orders, mart_slot_orders, mart_slot_cuisine_orders, mart_user_activity,
                              mart_user_days, mart_item_slim]
MART_TABLES: list[Table] = [mart_order_item, mart_food, mart_daily_menu, mart_user, *ROLLUP_TABLES]

de_meta = Table(
    "de_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(500), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# ---------------------------------------------------------------------------------------------
# Shared output format v1
# ---------------------------------------------------------------------------------------------
FORMAT_VERSION = 1
RUN_QUEUED, RUN_LEARNING, RUN_STOPPED, RUN_DONE, RUN_FAILED = 0, 1, 2, 3, 4
RUN_STATUS = {RUN_QUEUED: "queued", RUN_LEARNING: "learning", RUN_STOPPED: "stopped",
              RUN_DONE: "done", RUN_FAILED: "failed"}

rec_run = Table(
    "rec_run", metadata,
    Column(C.RUN_ID, Id, primary_key=True, autoincrement=True),
    Column("model", String(40), nullable=False),
    Column("params", Text, nullable=False),
    Column("data_cutoff", Date, nullable=False),
    Column("train_start", Date), Column("train_end", Date),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", SmallInteger, nullable=False),
    Column("error", Text),
    Column("metrics", LongText),
    Column("n_users", Integer), Column("n_items", Integer),
    Column("artifact_path", String(500)),
    Column("code_version", String(40)),
    Column("triggered_by", String(100)),
    Column("is_active", Boolean, nullable=False, default=False),
    Column("format_version", SmallInteger, nullable=False, default=FORMAT_VERSION),
    Column(C.JOB_ID, Id),
    Index("ix_rec_run_model", "model", "status"),
)
rec_user_recommend = Table(
    "rec_user_recommend", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(C.RUN_ID, Id, nullable=False),
    Column(C.USER_ID, Id, nullable=False),
    Column(C.GROUP_ID, Id),
    Column(C.SERVICE_DATE, Date),
    Column(C.DINING_TYPE, SmallInteger),
    Column(C.FOOD_ID, Id, nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.RANK, SmallInteger, nullable=False),
    Column(C.SCORE, Float, nullable=False),
    Column(C.RAW_SCORE, Float),        # the model's own score before the run's policy (DE only)
    Index("ix_rur_run_user", C.RUN_ID, C.USER_ID),
    Index("ix_rur_run_date", C.RUN_ID, C.SERVICE_DATE),
)
rec_policy = Table(
    "rec_policy", metadata,
    Column(C.POLICY_NAME, String(64), primary_key=True),
    Column("version", SmallInteger, nullable=False),
    Column("settings", Text, nullable=False),           # the policy as JSON (rerank.Policy)
    Column("saved_by", String(100), nullable=False),
    Column("saved_at", DateTime, nullable=False),
)
"""Named diversity policies (DE-owned): what a run applies to its model's scores."""

# ---------------------------------------------------------------------------------------------
# Auto-order preview (DE-owned; nothing here is ever sent to production)
# ---------------------------------------------------------------------------------------------
auto_order_setting = Table(
    "auto_order_setting", metadata,
    Column(C.USER_ID, Id, primary_key=True, autoincrement=False),
    Column(C.DINING_TYPES, String(20), nullable=False),          # "2" or "1,2" (DiningType codes)
    Column(C.WEEKDAYS, String(20), nullable=False),              # "0,1,2,3,4" (Monday = 0)
    Column(C.MAX_PRICE, Integer),                                # None: any price on the menu
    Column(C.AVOID_FOOD_IDS, Text, nullable=False),              # "12,40" or ""
    Column(C.AVOID_MAKERS_IDS, Text, nullable=False),
    Column(C.ACTIVE_FROM, Date, nullable=False),
    Column(C.ACTIVE_TO, Date),                                   # None: until switched off
    Column(C.UPDATED_AT, DateTime, nullable=False),
    Column(C.UPDATED_BY, String(200), nullable=False),
)
"""Who opted into automatic lunch purchase, and on which terms (one row per user)."""

auto_order_plan = Table(
    "auto_order_plan", metadata,
    Column(C.PLAN_ID, Id, primary_key=True, autoincrement=True),
    Column(C.RUN_ID, Id, nullable=False),
    Column(C.SERVICE_DATE, Date, nullable=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.AS_OF, DateTime, nullable=False),
    Column(C.PLAN_MODE, String(20), nullable=False),             # preview | replay
    Column("params", Text, nullable=False),                      # weights, policy, solver, objective
    Column(C.N_USERS, Integer, nullable=False),
    Column(C.PLANNED, Integer, nullable=False),
    Column(C.CREATED_AT, DateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_aop_date", C.SERVICE_DATE, C.DINING_TYPE),
)
auto_order_plan_item = Table(
    "auto_order_plan_item", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(C.PLAN_ID, Id, nullable=False),
    Column(C.RUN_ID, Id, nullable=False),
    Column(C.SERVICE_DATE, Date, nullable=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.USER_ID, Id, nullable=False),
    Column(C.GROUP_ID, Id),
    Column(C.DAILY_FOOD_ID, Id),                                 # None: no feasible food (see reason)
    Column(C.FOOD_ID, Id),
    Column(C.MAKERS_ID, Id),
    Column(C.PRICE, Integer),
    Column(C.SCORE, Float),
    Column(C.REASON_CODE, String(40), nullable=False),
    Column(C.REASON, String(300), nullable=False),
    Column(C.CREATED_AT, DateTime, nullable=False),
    Index("ix_aopi_plan", C.PLAN_ID, C.USER_ID),
)
"""One row per planned user: the food the auto-order would buy, or none and why."""

recommend_user_recommends = Table(
    "recommend__user_recommends", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(C.USER_ID, Id, nullable=False),
    Column(C.GROUP_ID, Id, nullable=False),
    Column(C.MAKERS_ID, Id, nullable=False),
    Column(C.FOOD_ID, Id, nullable=False),
    Column(C.SERVICE_DATE, Date, nullable=False),
    Column(C.DINING_TYPE, SmallInteger, nullable=False),
    Column(C.RANK, SmallInteger, nullable=False),
    Index("ix_rur_backend_user_date", C.USER_ID, C.SERVICE_DATE),
    Index("ix_rur_backend_date", C.SERVICE_DATE),
)

# ---------------------------------------------------------------------------------------------
# Retrain jobs and the one-at-a-time lock
# ---------------------------------------------------------------------------------------------
rec_job = Table(
    "rec_job", metadata,
    Column(C.JOB_ID, Id, primary_key=True, autoincrement=True),
    Column("status", SmallInteger, nullable=False),          # RUN_STATUS codes
    Column("progress", Float, nullable=False, default=0.0),
    Column("stage", String(200)),
    Column("models", String(300), nullable=False),
    Column("params", Text, nullable=False),
    Column("triggered_by", String(100)),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime), Column("finished_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("pid", Integer), Column("host", String(100)),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("error", Text),
    Column("log_tail", LongText),
)
rec_lock = Table(
    "rec_lock", metadata,
    Column("name", String(64), primary_key=True),
    Column(C.JOB_ID, Id),
    Column("pid", Integer), Column("host", String(100)),
    Column("acquired_at", DateTime),
    Column("heartbeat_at", DateTime),
)

# ---------------------------------------------------------------------------------------------
# Sync bookkeeping
# ---------------------------------------------------------------------------------------------
sync_watermark = Table(
    "sync_watermark", metadata,
    Column("table_name", String(64), primary_key=True),
    Column("column_name", String(64), nullable=False),
    Column("value", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
sync_log = Table(
    "sync_log", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("table_name", String(64), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("rows", Integer, nullable=False, default=0),
    Column("seconds", Float),
    Column("status", String(20), nullable=False),
    Column("error", Text),
)

# ---------------------------------------------------------------------------------------------
# Audit trail: one row per write (or refused write), in the action's own transaction when it has one
# ---------------------------------------------------------------------------------------------
de_audit = Table(
    "de_audit", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("who", String(200), nullable=False),      # e-mail, cli:<os user>, dag:<id>, team password
    Column("action", String(40), nullable=False),    # kurrant_core.access action names
    Column("target", String(300)),                   # "run 12", "job 7: popularity, content", …
    Column("outcome", String(10), nullable=False),   # ok | failed | denied
    Column("error", Text),
    Index("ix_de_audit_at", "at"),
)


META_MART_LAYOUT = "mart_layout"
"""de_meta key: :func:`mart_layout` of the code that last built the marts."""


@functools.cache
def mart_layout() -> str:
    """A short fingerprint of the marts' columns, keys and indexes. Preprocess stores it; marts built
    by a version with another layout are rebuilt whole, and pages ask for a preprocess meanwhile
    (every page run compares it, so it is computed once per process)."""
    parts = []
    for table in MART_TABLES:
        columns = [f"{c.name}:{c.type!r}:{int(c.primary_key)}:{int(c.nullable)}" for c in table.columns]
        indexes = sorted(f"{i.name}({','.join(c.name for c in i.columns)})" for i in table.indexes)
        parts.append(f"{table.name}[{';'.join(columns)}|{';'.join(indexes)}|{table.dialect_options['sqlite']['with_rowid']}]")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


ADDED_COLUMNS = {"rec_user_recommend": [C.RAW_SCORE]}
"""Nullable columns added to DE-owned tables after they first shipped: ``create_all`` adds them to
a database created before (an ALTER TABLE; nothing else changes)."""


def create_all(engine: sa.Engine) -> None:
    """Create every table and index that does not exist yet, and add the columns that later
    versions added to existing DE-owned tables; safe to run again."""
    metadata.create_all(engine, checkfirst=True)
    add_missing_columns(engine)


def add_missing_columns(engine: sa.Engine) -> None:
    """ALTER TABLE ... ADD COLUMN for each of ``ADDED_COLUMNS`` a table lacks."""
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table_name, names in ADDED_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table_name)}
            for name in names:
                if name not in present:
                    column = metadata.tables[table_name].c[name]
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}")
