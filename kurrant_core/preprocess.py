"""Build the marts from the raw mirror: one row per ordered item, per food, per menu slot, per user.

Heavy joins run inside the database (INSERT ... SELECT) so millions of order items never travel
through Python; only the small tables that need the code mappers (foods, users) go through pandas.
Each mart is built into a staging table and swapped in within one transaction, so readers never
see a half-built mart (on SQLite too: the swap's DDL runs inside one explicit transaction). After a
small sync, an incremental pass instead rebuilds only the order items (and menu slots) whose raw rows
were added or updated since the last build, again in one transaction; whenever the raw mirror changed
in a way a patch cannot follow (rows deleted, a new world, times moved back; see
:mod:`kurrant_core.raw_changes`), it rebuilds everything, so the marts always equal a full rebuild.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.db import begin_atomic, init_db, insert_frame, is_sqlite, marts_current, write_meta
from kurrant_core.raw_changes import (
    RawState,
    changed_items,
    changed_menu_rows,
    read_raw_state,
    store_raw_state,
    stored_raw_state,
    why_not_patchable,
)
from kurrant_core.rollups import CHANGED_KEY, drop_temporary, fill_rollups, refresh_rollups, temporary_table

log = logging.getLogger(__name__)
STAGING_SUFFIX = "__staging"
META_PREPROCESSED_AT = "preprocessed_at"
META_LATEST_ORDER_AT = "latest_order_at"
META_MODE = "preprocess_mode"
INCREMENTAL_MAX_SHARE = 0.2
"""Above this share of changed order items a full rebuild is cheaper than patching."""
FULL, INCREMENTAL = "full", "incremental"


def preprocess(engine: sa.Engine, *, incremental: bool | None = None) -> dict[str, int]:
    """Rebuild the marts from the raw mirror; returns rows per mart.

    ``incremental=None`` chooses: patch the marts when few raw order rows changed since the last
    build, else rebuild everything. ``True`` patches when it can, ``False`` always rebuilds.
    """
    init_db(engine)
    t0 = time.perf_counter()
    with engine.connect() as conn:      # before the build: rows arriving meanwhile count as changed next time
        raw_state = read_raw_state(conn)
    stored = _patchable_state(engine) if incremental is not False else None
    if stored is not None:
        counts = _patch(engine, stored)
        mode = INCREMENTAL
    else:
        counts = _rebuild(engine)
        mode = FULL
    with engine.begin() as conn:
        latest = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.ORDERED_AT]))).scalar()
        write_meta(conn, META_PREPROCESSED_AT, datetime.now().isoformat(timespec="seconds"))
        write_meta(conn, META_LATEST_ORDER_AT, str(latest) if latest else "")
        write_meta(conn, META_MODE, mode)
        write_meta(conn, S.META_MART_LAYOUT, S.mart_layout())
        store_raw_state(conn, raw_state)
    log.info("preprocess (%s): %s in %.1f s", mode, counts, time.perf_counter() - t0)
    return counts


def _rebuild(engine: sa.Engine) -> dict[str, int]:
    staging = {t.name: _staging_table(t) for t in S.MART_TABLES}
    with _reading_committed(engine).begin() as conn:
        for t in staging.values():
            t.drop(conn, checkfirst=True)
            t.create(conn)
        foods = _food_frame(conn)
        insert_frame(conn, staging[S.mart_food.name], foods)
        if not is_sqlite(engine):   # fresh statistics, so the order-item join looks foods up by key
            conn.exec_driver_sql(f"ANALYZE TABLE `{staging[S.mart_food.name].name}`")
        conn.execute(staging[S.mart_daily_menu.name].insert().from_select(
            [c.name for c in S.mart_daily_menu.columns], _daily_menu_select()))
        conn.execute(staging[S.mart_order_item.name].insert().from_select(
            [c.name for c in S.mart_order_item.columns], _order_item_select(staging[S.mart_food.name])))
        fill_rollups(conn, {t.name: staging[t.name] for t in S.ROLLUP_TABLES}, items=staging[S.mart_order_item.name])
        users = _user_frame(conn, staging[S.mart_order_item.name])
        insert_frame(conn, staging[S.mart_user.name], users)
        if not is_sqlite(engine):
            _index_staging(conn, staging)
    return _swap_in(engine, staging)


def _reading_committed(engine: sa.Engine) -> sa.Engine:
    """MySQL: build under READ COMMITTED. Under the default REPEATABLE READ, INSERT ... SELECT
    share-locks every raw row it reads (millions for the large world), which is slow and would
    block the sync job writing new raw rows; the staging tables are private until the swap anyway."""
    return engine if is_sqlite(engine) else engine.execution_options(isolation_level="READ COMMITTED")


# --------------------------------------------------------------------------------- incremental
def _patchable_state(engine: sa.Engine) -> RawState | None:
    """The last build's raw fingerprints when a patch can bring the marts up to date, else None:
    never built or built by another version, the raw mirror changed in a way a patch cannot follow,
    or so much changed that a full rebuild is cheaper."""
    with engine.connect() as conn:
        stored = stored_raw_state(conn)
        if stored is None or not marts_current(conn):
            return None
        reason = why_not_patchable(conn, stored)
        if reason:
            log.info("preprocess: rebuilding every mart (%s)", reason)
            return None
        built = conn.execute(sa.select(sa.func.count()).select_from(S.mart_order_item)).scalar_one()
        changed = conn.execute(sa.select(sa.func.count()).select_from(changed_items(stored).subquery())).scalar_one()
    if not built or changed > INCREMENTAL_MAX_SHARE * built:
        return None
    return stored


def _patch(engine: sa.Engine, stored: RawState) -> dict[str, int]:
    """Patch the marts in one transaction: small marts replaced, changed order items rebuilt."""
    moi, mdm = S.mart_order_item, S.mart_daily_menu
    with begin_atomic(engine) as conn:
        conn.execute(S.mart_food.delete())
        insert_frame(conn, S.mart_food, _food_frame(conn))
        changed_menu = changed_menu_rows(stored)
        conn.execute(mdm.delete().where(mdm.c[C.DAILY_FOOD_ID].in_(changed_menu)))
        conn.execute(mdm.insert().from_select([c.name for c in mdm.columns],
                                              _daily_menu_select().where(S.daily_food.c.id.in_(changed_menu))))
        # the changed ids, once: MySQL re-runs an IN (... UNION ...) subquery for every mart row
        changed_ids = temporary_table(conn, "kl_changed_items",
                                      sa.Column(C.ORDER_ITEM_ID, S.Id, primary_key=True, autoincrement=False))
        conn.execute(changed_ids.insert().from_select([C.ORDER_ITEM_ID], changed_items(stored)))
        changed = sa.select(changed_ids.c[C.ORDER_ITEM_ID])
        first_day = sa.select(sa.func.min(moi.c[C.SERVICE_DATE])).where(moi.c[C.ORDER_ITEM_ID].in_(changed))
        pairs = _changed_pairs_table(conn)
        touched = sa.select(*[moi.c[c] for c in CHANGED_KEY]).where(moi.c[C.ORDER_ITEM_ID].in_(changed)).distinct()
        old_first = conn.execute(first_day).scalar()
        conn.execute(pairs.insert().from_select(list(CHANGED_KEY), touched))
        conn.execute(moi.delete().where(moi.c[C.ORDER_ITEM_ID].in_(changed)))
        conn.execute(moi.insert().from_select(
            [c.name for c in moi.columns],
            _order_item_select(S.mart_food, only=changed_ids)))
        conn.execute(pairs.insert().from_select(list(CHANGED_KEY), touched))
        days = [pd.Timestamp(d).date() for d in (old_first, conn.execute(first_day).scalar()) if d is not None]
        if days:   # the rollups change only on the days, users and (user, food) pairs whose items changed
            refresh_rollups(conn, min(days), changed=pairs)
        for scratch in (pairs, changed_ids):
            conn.exec_driver_sql(drop_temporary(conn, scratch.name))
        users = _user_frame(conn, moi)
        conn.execute(S.mart_user.delete())
        insert_frame(conn, S.mart_user, users)
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in S.MART_TABLES}


def _changed_pairs_table(conn: sa.Connection) -> sa.Table:
    """A temporary table of the (user, food) pairs whose items a patch changes."""
    return temporary_table(conn, "kl_changed_pairs", sa.Column(C.USER_ID, S.Id), sa.Column(C.FOOD_ID, S.Id),
                           sa.Index("ix_kl_changed_pairs", C.USER_ID, C.FOOD_ID))


# --------------------------------------------------------------------------------- staging + swap
def _staging_table(table: sa.Table) -> sa.Table:
    """An index-free copy of a mart: bulk inserts skip index upkeep (SQLite copies into the mart,
    whose indexes stay; MySQL gets its indexes built in one sorted pass by :func:`_index_staging`)."""
    staged = table.to_metadata(sa.MetaData(), name=table.name + STAGING_SUFFIX)
    staged.indexes.clear()
    return staged


def _index_staging(conn: sa.Connection, staging: dict[str, sa.Table]) -> None:
    """Build each mart's secondary indexes on its filled staging table (MySQL names are per table)."""
    for name, staged in staging.items():
        for index in S.metadata.tables[name].indexes:
            sa.Index(index.name, *[staged.c[c.name] for c in index.columns]).create(conn)


def _swap_in(engine: sa.Engine, staging: dict[str, sa.Table]) -> dict[str, int]:
    """Replace every mart by its staging table in one transaction."""
    counts: dict[str, int] = {}
    with begin_atomic(engine) as conn:
        for name, staged in staging.items():
            counts[name] = conn.execute(sa.select(sa.func.count()).select_from(staged)).scalar_one()
        if is_sqlite(engine):
            # SQLite DDL is transactional (begin_atomic opens the transaction before the first DROP)
            # and WAL readers keep the old snapshot until commit. Each mart is created afresh, so one
            # an older version built takes this version's layout.
            for name, staged in staging.items():
                mart = S.metadata.tables[name]
                cols = [c.name for c in mart.columns]
                mart.drop(conn, checkfirst=True)
                mart.create(conn)
                conn.execute(mart.insert().from_select(cols, sa.select(*[staged.c[c] for c in cols])))
                staged.drop(conn)
        else:
            # MySQL: RENAME TABLE of several tables is one atomic operation.
            pairs = []
            for name in staging:
                pairs += [f"`{name}` TO `{name}__old`", f"`{name}{STAGING_SUFFIX}` TO `{name}`"]
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(pairs))
            for name in staging:
                conn.exec_driver_sql(f"DROP TABLE `{name}__old`")
    return counts


# --------------------------------------------------------------------------------- marts
def _food_frame(conn: sa.Connection) -> pd.DataFrame:
    """mart_food: one row per food with labels and tag-derived features, via the mappers."""
    f, m = S.food, S.makers
    raw = pd.read_sql(
        sa.select(f.c.id, f.c.name, f.c.makers_id, m.c.name.label("makers_name"),
                  m.c.e_service_type, f.c.e_status, f.c.price, f.c.supply_price, f.c.e_food_tags,
                  f.c.calorie, f.c.carbohydrate, f.c.fat, f.c.protein, f.c.created_date_time)
        .select_from(f.outerjoin(m, m.c.id == f.c.makers_id)), conn)
    tags = raw["e_food_tags"].map(codes.parse_codes)

    def first(category: str) -> pd.Series:
        return tags.map(lambda t: codes.first_tag(t, category)).astype("Int64")

    out = pd.DataFrame({
        C.FOOD_ID: raw["id"], C.FOOD_NAME: raw["name"], C.MAKERS_ID: raw["makers_id"],
        C.MAKERS_NAME: raw["makers_name"].fillna("미상"),
        C.MAKERS_SERVICE_TYPE: raw["e_service_type"].fillna(6).astype(int),
        C.FOOD_STATUS: raw["e_status"], C.PRICE: raw["price"], C.SUPPLY_PRICE: raw["supply_price"],
        C.FOOD_TAGS: tags.map(codes.join_codes),
        C.CUISINE_CODE: first(codes.CUISINE), C.MAIN_INGREDIENT_CODE: first(codes.MAIN_INGREDIENT),
        C.SPICINESS_CODE: first(codes.SPICINESS), C.FOOD_TYPE_CODE: first(codes.FOOD_TYPE),
        C.ALLERGY_TAGS: tags.map(lambda t: codes.join_codes(codes.tags_in(t, codes.ALLERGY))),
        C.CALORIE: raw["calorie"], C.CARBOHYDRATE: raw["carbohydrate"], C.FAT: raw["fat"],
        C.PROTEIN: raw["protein"], C.CREATED_AT: raw["created_date_time"],
    })
    for code_col, label_col in [(C.CUISINE_CODE, C.CUISINE_LABEL), (C.MAIN_INGREDIENT_CODE, C.MAIN_INGREDIENT_LABEL),
                                (C.SPICINESS_CODE, C.SPICINESS_LABEL), (C.FOOD_TYPE_CODE, C.FOOD_TYPE_LABEL)]:
        out[label_col] = out[code_col].map(lambda c: codes.label(codes.FOOD_TAG, None if pd.isna(c) else c))
    return out[[c.name for c in S.mart_food.columns]]


def _daily_menu_select() -> sa.Select:
    df, f = S.daily_food, S.food
    return (sa.select(df.c.id, df.c.service_date, df.c.e_dining_type, df.c.group_id, df.c.food_id,
                      f.c.makers_id, df.c.e_status, df.c.default_price)
            .select_from(df.join(f, f.c.id == df.c.food_id)))


def _order_item_select(mart_food: sa.Table, only: sa.Table | None = None) -> sa.Select:
    """mart_order_item rows from the raw mirror: every order item, or those whose ids ``only`` lists."""
    oidf, oi, o, od = S.order_item_dailyfood, S.order_item, S.order, S.order_daily_food
    df, g, r = S.daily_food, S.order_item_dailyfood_group, S.review
    review = (sa.select(r.c.order_item_id, sa.func.max(r.c.satisfaction).label("satisfaction"))
              .where(r.c.is_delete == sa.false()).group_by(r.c.order_item_id).subquery())
    status = oi.c.e_order_status
    return (
        sa.select(oidf.c.id, o.c.id, o.c.user_id, df.c.group_id, od.c.spot_id, oidf.c.daily_food_id,
                  df.c.food_id, mart_food.c[C.MAKERS_ID], mart_food.c[C.CUISINE_CODE], g.c.service_date,
                  g.c.e_dining_type, oidf.c["count"], oidf.c.price, oidf.c.discounted_price, status,
                  status.in_(sorted(codes.PAID_STATUSES)), status.in_(sorted(codes.CANCELLED_STATUSES)),
                  oi.c.created_date_time, review.c.satisfaction)
        .select_from(
            (oidf if only is None else only.join(oidf, oidf.c.id == only.c[C.ORDER_ITEM_ID]))
            .join(oi, oi.c.id == oidf.c.id)
            .join(o, o.c.id == oi.c.order_id)
            .join(od, od.c.id == o.c.id)
            .join(df, df.c.id == oidf.c.daily_food_id)
            .join(g, g.c.id == oidf.c.order_item_daily_food_group_id)
            .join(mart_food, mart_food.c[C.FOOD_ID] == df.c.food_id)
            .outerjoin(review, review.c.order_item_id == oidf.c.id))
        # MySQL: join in the order written. Left to itself, the optimizer starts from the (freshly
        # filled, unanalysed) food mart and reaches every order item through a secondary index:
        # millions of random reads that a default 128 MB buffer pool turns into an hour. Walking the
        # order items in key order keeps every other big table's lookups sequential too.
        .prefix_with("STRAIGHT_JOIN", dialect="mysql"))


def _user_frame(conn: sa.Connection, order_items: sa.Table) -> pd.DataFrame:
    """mart_user: membership (latest group, default spot), survey and order span per user."""
    u, ug, us, p = S.user_user, S.user_group, S.user_spot, S.user_preference
    grp, spot = S.client_group, S.client_spot
    users = pd.read_sql(sa.select(u.c.id, u.c.e_user_status, u.c.is_membership, u.c.created_date_time), conn)
    groups = pd.read_sql(sa.select(ug.c.user_id, ug.c.group_id, ug.c.client_status, ug.c.created_date_time,
                                   ug.c.updated_date_time, grp.c.name.label("group_name"))
                         .select_from(ug.outerjoin(grp, grp.c.id == ug.c.group_id)), conn)
    groups = groups.sort_values(["user_id", "created_date_time"]).drop_duplicates("user_id", keep="last")
    spots = pd.read_sql(sa.select(us.c.user_id, us.c.spot_id, us.c.is_default, spot.c.name.label("spot_name"))
                        .select_from(us.outerjoin(spot, spot.c.id == us.c.spot_id)), conn)
    spots = spots.sort_values(["user_id", "is_default"]).drop_duplicates("user_id", keep="last")
    prefs = pd.read_sql(sa.select(p.c.user_id, p.c.favorite_country_food, p.c.allergy_info, p.c.is_vegan,
                                  p.c.vegan_level), conn)
    oi = order_items.c
    span = pd.read_sql(sa.select(oi[C.USER_ID], sa.func.min(oi[C.SERVICE_DATE]).label(C.FIRST_ORDER_DATE),
                                 sa.func.max(oi[C.SERVICE_DATE]).label(C.LAST_ORDER_DATE),
                                 sa.func.count().label(C.N_ITEMS))
                       .where(oi[C.IS_PAID] == sa.true()).group_by(oi[C.USER_ID]), conn)

    df = (users.rename(columns={"id": "user_id"})
          .merge(groups.drop(columns="created_date_time"), on="user_id", how="left")
          .merge(spots, on="user_id", how="left")
          .merge(prefs, on="user_id", how="left")
          .merge(span.rename(columns={C.USER_ID: "user_id"}), on="user_id", how="left"))
    left = df["client_status"].eq(codes.CLIENT_WITHDRAWN)
    out = pd.DataFrame({
        C.USER_ID: df["user_id"], C.GROUP_ID: df["group_id"].astype("Int64"), C.GROUP_NAME: df["group_name"],
        C.SPOT_ID: df["spot_id"].astype("Int64"), C.SPOT_NAME: df["spot_name"],
        C.JOINED_ON: pd.to_datetime(df["created_date_time"]).dt.date,
        C.LEFT_ON: pd.to_datetime(df["updated_date_time"]).dt.date.where(left, None),
        C.USER_STATUS: df["e_user_status"], C.IS_MEMBERSHIP: df["is_membership"].astype(bool),
        C.HAS_SURVEY: df["favorite_country_food"].fillna("").str.len().gt(0),
        C.FAVORITE_TAGS: df["favorite_country_food"].map(lambda v: codes.join_codes(codes.parse_codes(v))),
        C.ALLERGY_TAGS: df["allergy_info"].map(lambda v: codes.join_codes(codes.parse_codes(v))),
        C.IS_VEGAN: df["is_vegan"].fillna(False).astype(bool),
        C.VEGAN_LEVEL: df["vegan_level"].astype("Int64"),
        C.FIRST_ORDER_DATE: df[C.FIRST_ORDER_DATE], C.LAST_ORDER_DATE: df[C.LAST_ORDER_DATE],
        C.N_ITEMS: df[C.N_ITEMS].fillna(0).astype(int),
    })
    return out[[c.name for c in S.mart_user.columns]]
