"""Column names shared by the marts, the training data and the shared output format.

Every module imports names from here instead of writing string literals, so a rename is one edit.
Raw mirror columns keep production's names and are reached through the SQLAlchemy tables in
``kurrant_core.schema`` (``raw.food.c.makers_id``), not through these constants.
"""

# identifiers
RUN_ID = "run_id"
JOB_ID = "job_id"
USER_ID = "user_id"
GROUP_ID = "group_id"
SPOT_ID = "spot_id"
FOOD_ID = "food_id"
MAKERS_ID = "makers_id"
ORDER_ID = "order_id"
ORDER_ITEM_ID = "order_item_id"
DAILY_FOOD_ID = "daily_food_id"

# when and what kind
SERVICE_DATE = "service_date"
DINING_TYPE = "dining_type"
ORDERED_AT = "ordered_at"

# order item facts
COUNT = "count"
PRICE = "price"
DISCOUNTED_PRICE = "discounted_price"
ORDER_STATUS = "order_status"
IS_PAID = "is_paid"
IS_CANCELLED = "is_cancelled"
SATISFACTION = "satisfaction"

# food facts (mart_food)
FOOD_NAME = "food_name"
MAKERS_NAME = "makers_name"
FOOD_STATUS = "food_status"
SUPPLY_PRICE = "supply_price"
FOOD_TAGS = "food_tags"
CUISINE_CODE = "cuisine_code"
CUISINE_LABEL = "cuisine_label"
MAIN_INGREDIENT_CODE = "main_ingredient_code"
MAIN_INGREDIENT_LABEL = "main_ingredient_label"
SPICINESS_CODE = "spiciness_code"
SPICINESS_LABEL = "spiciness_label"
FOOD_TYPE_CODE = "food_type_code"
FOOD_TYPE_LABEL = "food_type_label"
ALLERGY_TAGS = "allergy_tags"
MAKERS_SERVICE_TYPE = "makers_service_type"
CALORIE = "calorie"
CARBOHYDRATE = "carbohydrate"
FAT = "fat"
PROTEIN = "protein"
CREATED_AT = "created_at"

# daily menu (mart_daily_menu)
DAILY_FOOD_STATUS = "daily_food_status"

# group / user facts (mart_user)
GROUP_NAME = "group_name"
SPOT_NAME = "spot_name"
JOINED_ON = "joined_on"
LEFT_ON = "left_on"
USER_STATUS = "user_status"
IS_MEMBERSHIP = "is_membership"
FAVORITE_TAGS = "favorite_tags"
IS_VEGAN = "is_vegan"
VEGAN_LEVEL = "vegan_level"
HAS_SURVEY = "has_survey"
FIRST_ORDER_DATE = "first_order_date"
LAST_ORDER_DATE = "last_order_date"
N_ITEMS = "n_items"

# order EDA measures (kurrant_core.eda results)
N_ORDERS = "n_orders"
N_USERS = "n_users"
N_FOODS = "n_foods"
N_REVIEWS = "n_reviews"
N_CANCELLED = "n_cancelled"
REVENUE = "revenue"
ITEMS_PER_USER = "items_per_user"
CANCEL_RATE = "cancel_rate"
AVG_SATISFACTION = "avg_satisfaction"
SHARE = "share"
WEEK = "week"
WEEKDAY = "weekday"
WEEKDAY_LABEL = "weekday_label"
DINING_LABEL = "dining_label"
MOVING_AVG_7D = "moving_avg_7d"
KPI = "kpi"
CURRENT = "current"
PREVIOUS = "previous"
CHANGE = "change"
FOOD_SHARE = "food_share"
ITEM_SHARE = "item_share"
GINI = "gini"
TOP10_SHARE = "top10_share"
TIMES_OFFERED = "times_offered"
TIMES_CHOSEN = "times_chosen"
PICK_RATE = "pick_rate"
TAKE_RATE = "take_rate"
REPEAT_7D_SHARE = "repeat_7d_share"
REPEAT_30D_SHARE = "repeat_30d_share"
DAYS_BETWEEN = "days_between"
N_REPEATS = "n_repeats"
NEW_USERS = "new_users"
RETURNING_USERS = "returning_users"
COHORT_WEEK = "cohort_week"
WEEKS_SINCE = "weeks_since"
COHORT_SIZE = "cohort_size"
RETENTION = "retention"
UNIT_PRICE = "unit_price"

# rollup marts (pre-aggregated by preprocess for the order EDA page): paid / all variants
N_ITEMS_PAID = "n_items_paid"
N_ORDERS_PAID = "n_orders_paid"
N_USERS_PAID = "n_users_paid"
SATISFACTION_SUM = "satisfaction_sum"
SATISFACTION_SUM_PAID = "satisfaction_sum_paid"
N_REVIEWS_PAID = "n_reviews_paid"
FIRST_DAY = "first_day"
DAY_ITEMS = "day_items"
DAY_ITEMS_PAID = "day_items_paid"
PEAK_DAY_ITEMS = "peak_day_items"

# shared output format v1
RANK = "rank"
SCORE = "score"
IS_COLD_START = "is_cold_start"
RAW_SCORE = "raw_score"
"""The model's own score of a shipped row, before the run's diversity policy re-ranked it."""
POLICY_NAME = "policy_name"
POLICY_STEPS = "policy_steps"

REC_COLUMNS = [RUN_ID, USER_ID, GROUP_ID, SERVICE_DATE, DINING_TYPE, FOOD_ID, MAKERS_ID, RANK, SCORE]
"""Columns of ``rec_user_recommend`` (shared output format v1), in order."""

RECOMMEND_COLUMNS = [USER_ID, GROUP_ID, SERVICE_DATE, DINING_TYPE, FOOD_ID, MAKERS_ID, RANK, SCORE,
                     IS_COLD_START]
"""Columns a model's ``recommend`` returns (no run id yet; the cold-start flag says which lists
fell back to the content/popularity answer)."""

BACKEND_COLUMNS = [USER_ID, GROUP_ID, MAKERS_ID, FOOD_ID, SERVICE_DATE, DINING_TYPE, RANK]
"""Columns of ``recommend__user_recommends``, the table the backend reads."""

# evaluation (kurrant_core.evaluation: ranked test orders, leaderboard, trade-off curves)
MODEL = "model"
PROTOCOL = "protocol"
MENU_SIZE = "menu_size"
MMR_LAMBDA = "mmr_lambda"
DATA_CUTOFF = "data_cutoff"
HORIZON_DAYS = "horizon_days"

# recommendation comparison (kurrant_core.compare: one user's lists side by side)
LIST_LABEL = "list_label"
MODEL_RANK = "model_rank"
N_LISTS = "n_lists"
LAST_EATEN = "last_eaten"
MARKS = "marks"
WHY = "why"
ORDERED = "ordered"              # the user really ordered this food in the compared setting
MATCH = "match"                  # the model's score as a 0-100 match among the pool
FOOD_WHY = "food_why"            # food name with its readable why-line under it
PICK_FOOD_ID = "pick_food_id"    # replay: a model's #1 on a day
PICK_NAME = "pick_name"
ACTUAL_ORDER = "actual_order"    # replay: what the user ordered that day (names)
HIT = "hit"
ADJUSTED_SATISFACTION = "adjusted_satisfaction"   # mean satisfaction shrunk towards the overall mean
OTHER_LIST = "other_list"
JACCARD = "jaccard"
RBO = "rbo"

# sync status (kurrant_core.sync.sync_status: one row per raw mirror table)
TABLE_NAME = "table_name"
WATERMARK_COLUMN = "watermark_column"
WATERMARK = "watermark"
LAST_SYNC_STATUS = "last_sync_status"
LAST_SYNC_ROWS = "last_sync_rows"
LAST_SYNC_SECONDS = "last_sync_seconds"
LAST_SYNC_STARTED_AT = "last_sync_started_at"
LAST_SYNC_FINISHED_AT = "last_sync_finished_at"
LAST_SYNC_ERROR = "last_sync_error"
SYNC_STATUS_COLUMNS = [TABLE_NAME, WATERMARK_COLUMN, WATERMARK, LAST_SYNC_STATUS, LAST_SYNC_ROWS,
                       LAST_SYNC_SECONDS, LAST_SYNC_STARTED_AT, LAST_SYNC_FINISHED_AT, LAST_SYNC_ERROR]
"""Columns of ``sync_status`` (the overview page's data-freshness table), in order."""

# retrain jobs and run history (kurrant_core.jobs)
STATUS_LABEL = "status_label"
DURATION_S = "duration_s"
METRIC = "metric"
STARTED_AT = "started_at"        # rec_run's own column names, shown in the run history
TRIGGERED_BY = "triggered_by"
TRAIN_START = "train_start"
TRAIN_END = "train_end"
IS_ACTIVE = "is_active"
TUNED = "tuned"

# auto-order (kurrant_core.auto_order: opt-in settings, plans, backtests)
PLAN_ID = "plan_id"
DINING_TYPES = "dining_types"
"""Comma-separated DiningType codes ("2" or "1,2"), as production stores multi-valued fields."""
WEEKDAYS = "weekdays"
"""Comma-separated Python weekdays (Monday = 0)."""
MAX_PRICE = "max_price"
AVOID_FOOD_IDS = "avoid_food_ids"
AVOID_MAKERS_IDS = "avoid_makers_ids"
ACTIVE_FROM = "active_from"
ACTIVE_TO = "active_to"
UPDATED_AT = "updated_at"
UPDATED_BY = "updated_by"
AS_OF = "as_of"
PLAN_MODE = "plan_mode"
REASON = "reason"
REASON_CODE = "reason_code"
PREFERENCE = "preference"
CAPACITY = "capacity"
ALREADY_ORDERED = "already_ordered"
PLANNED = "planned"
REMAINING = "remaining"
ORDERED_FOOD_IDS = "ordered_food_ids"
IS_MATCH = "is_match"
