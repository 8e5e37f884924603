"""Preprocess builds the marts from the raw mirror; checked against an independent pandas join."""
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, preprocess as P, schema as S
from kurrant_core.db import check_ready, make_engine, read_meta
from kurrant_core.errors import KurrantError


def _table(engine, table) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(table), conn)


@pytest.fixture(scope="module")
def raw_join(tiny_engine) -> pd.DataFrame:
    """One row per ordered item, joined by hand in pandas from the raw mirror."""
    t = {tbl.name: _table(tiny_engine, tbl) for tbl in S.RAW_TABLES}
    oidf = t["order__order_item_dailyfood"].rename(columns={"id": "item_id"})
    oi = t["order__order_item"].rename(columns={"id": "item_id"})
    o = t["order__order"].rename(columns={"id": "order_id"})
    df = t["food__daily_food"].rename(columns={"id": "daily_food_id"})
    return (oidf.merge(oi, on="item_id").merge(o[["order_id", "user_id"]], on="order_id")
            .merge(df[["daily_food_id", "food_id", "group_id", "service_date"]], on="daily_food_id"))


def test_one_mart_row_per_ordered_item(tiny_engine, raw_join):
    mart = _table(tiny_engine, S.mart_order_item)
    assert len(mart) == len(raw_join) > 100
    merged = mart.merge(raw_join, left_on=C.ORDER_ITEM_ID, right_on="item_id", suffixes=("", "_raw"))
    assert (merged[C.USER_ID] == merged["user_id_raw"]).all()
    assert (merged[C.FOOD_ID] == merged["food_id_raw"]).all()
    assert (merged[C.GROUP_ID] == merged["group_id_raw"]).all()
    paid = merged["e_order_status"].isin(codes.PAID_STATUSES)
    assert (merged[C.IS_PAID].astype(bool) == paid).all()
    assert (merged[C.IS_CANCELLED].astype(bool) == merged["e_order_status"].isin(codes.CANCELLED_STATUSES)).all()
    assert merged[C.IS_CANCELLED].astype(bool).any() and paid.any()


def test_user_mart_counts_paid_items(tiny_engine, raw_join):
    users = _table(tiny_engine, S.mart_user).set_index(C.USER_ID)
    paid = raw_join[raw_join["e_order_status"].isin(codes.PAID_STATUSES)]
    expected = paid.groupby("user_id").size()
    got = users[C.N_ITEMS]
    assert (got.reindex(expected.index) == expected).all()
    assert (got.drop(expected.index) == 0).all()            # users with no paid item count 0
    first = pd.to_datetime(paid.groupby("user_id")["service_date"].min())
    assert (pd.to_datetime(users[C.FIRST_ORDER_DATE].reindex(first.index)) == first).all()


def test_food_mart_labels_come_from_the_mappers(tiny_engine):
    foods = _table(tiny_engine, S.mart_food)
    raw = _table(tiny_engine, S.food).set_index("id")
    assert len(foods) == len(raw)
    for row in foods.itertuples():
        tags = codes.parse_codes(raw.loc[row.food_id, "e_food_tags"])
        assert row.cuisine_code == codes.first_tag(tags, codes.CUISINE)
        assert row.cuisine_label == codes.FOOD_TAG[row.cuisine_code]
        assert codes.parse_codes(row.allergy_tags) == codes.tags_in(tags, codes.ALLERGY)
        if row.spiciness_code is not None and not pd.isna(row.spiciness_code):
            assert row.spiciness_label == codes.FOOD_TAG[int(row.spiciness_code)]


def test_daily_menu_mart_mirrors_daily_food(tiny_engine):
    menu = _table(tiny_engine, S.mart_daily_menu)
    raw = _table(tiny_engine, S.daily_food)
    assert len(menu) == len(raw)
    assert set(menu[C.DAILY_FOOD_ID]) == set(raw["id"])
    assert read_meta(tiny_engine, P.META_PREPROCESSED_AT)


def test_rerun_is_stable_and_leaves_no_staging(writable_tiny_url):
    engine = make_engine(writable_tiny_url)
    before = {t.name: len(_table(engine, t)) for t in S.MART_TABLES}
    assert P.preprocess(engine) == before
    assert not [n for n in sa.inspect(engine).get_table_names() if n.endswith(P.STAGING_SUFFIX)]
    engine.dispose()


def test_a_failed_build_leaves_the_old_marts_in_place(writable_tiny_url, monkeypatch):
    engine = make_engine(writable_tiny_url)
    before = _table(engine, S.mart_order_item)
    with engine.begin() as conn:       # new raw data the failed build would have brought in
        conn.execute(S.order_item.update().values(e_order_status=codes.ORDER_CANCELLED))

    def boom(*_a, **_k):
        raise RuntimeError("killed halfway")
    monkeypatch.setattr(P, "_user_frame", boom)
    with pytest.raises(RuntimeError):
        P.preprocess(engine)
    after = _table(engine, S.mart_order_item)
    pd.testing.assert_frame_equal(before.sort_values(C.ORDER_ITEM_ID).reset_index(drop=True),
                                  after.sort_values(C.ORDER_ITEM_ID).reset_index(drop=True))
    monkeypatch.undo()
    P.preprocess(engine, incremental=False)   # a good full run then picks the change up
    assert not _table(engine, S.mart_order_item)[C.IS_PAID].astype(bool).any()
    engine.dispose()


def _marts_by_key(engine) -> dict[str, pd.DataFrame]:
    return {t.name: _table(engine, t).sort_values(t.primary_key.columns.keys()).reset_index(drop=True)
            for t in S.MART_TABLES}


def test_incremental_patch_equals_a_full_rebuild(writable_tiny_url):
    """A few cancelled items and a new review are patched in; the marts then equal a full rebuild."""
    engine = make_engine(writable_tiny_url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(S.order_item.c.id).order_by(S.order_item.c.id).limit(5))]
        later = max(conn.execute(sa.select(sa.func.max(t.c.updated_date_time))).scalar()
                    for t in (S.order_item, S.review, S.daily_food))       # after every raw watermark
        review_target = conn.execute(sa.select(S.order_item.c.id).order_by(S.order_item.c.id.desc())).first()[0]
        user_of = conn.execute(sa.select(S.order.c.user_id).select_from(
            S.order.join(S.order_item, S.order_item.c.order_id == S.order.c.id))
            .where(S.order_item.c.id == review_target)).scalar_one()
        food_of = conn.execute(sa.select(S.daily_food.c.food_id).select_from(
            S.daily_food.join(S.order_item_dailyfood, S.order_item_dailyfood.c.daily_food_id == S.daily_food.c.id))
            .where(S.order_item_dailyfood.c.id == review_target)).scalar_one()
    later = pd.Timestamp(later).to_pydatetime() + pd.Timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(S.order_item.update().where(S.order_item.c.id.in_(ids))
                     .values(e_order_status=codes.ORDER_CANCELLED, updated_date_time=later))
        conn.execute(S.review.delete().where(S.review.c.order_item_id == review_target))
        next_id = conn.execute(sa.select(sa.func.max(S.review.c.id))).scalar_one() + 1
        conn.execute(S.review.insert().values(id=next_id, user_id=user_of, food_id=food_of, order_item_id=review_target,
                                              satisfaction=1, is_delete=False, created_date_time=later,
                                              updated_date_time=later))
    P.preprocess(engine)
    assert read_meta(engine, P.META_MODE) == P.INCREMENTAL
    patched = _marts_by_key(engine)
    moi = patched["mart_order_item"].set_index(C.ORDER_ITEM_ID)
    assert moi.loc[ids, C.IS_CANCELLED].astype(bool).all()
    assert moi.loc[review_target, C.SATISFACTION] == 1
    P.preprocess(engine, incremental=False)
    assert read_meta(engine, P.META_MODE) == P.FULL
    for name, full in _marts_by_key(engine).items():
        pd.testing.assert_frame_equal(patched[name], full, obj=name)
    engine.dispose()


def test_a_patch_that_moves_the_first_day_redoes_every_day_string(writable_tiny_url):
    """An item moved before the mart's first day shifts every day-count string's origin: the patch must
    rebuild them all (not only the changed user's) and still equal a full rebuild."""
    engine = make_engine(writable_tiny_url)
    oidf, grp = S.order_item_dailyfood, S.order_item_dailyfood_group
    with engine.connect() as conn:
        first_item = conn.execute(sa.select(oidf.c.id, oidf.c.order_item_daily_food_group_id)
                                  .order_by(oidf.c.id).limit(1)).one()
        first_day = conn.execute(sa.select(sa.func.min(grp.c.service_date))).scalar_one()
        later = conn.execute(sa.select(sa.func.max(S.order_item.c.updated_date_time))).scalar_one()
    earlier = pd.Timestamp(first_day).date() - pd.Timedelta(days=3)
    with engine.begin() as conn:
        conn.execute(grp.update().where(grp.c.id == first_item[1]).values(service_date=earlier))
        conn.execute(S.order_item.update().where(S.order_item.c.id == first_item[0])
                     .values(updated_date_time=pd.Timestamp(later).to_pydatetime() + pd.Timedelta(hours=1)))
    P.preprocess(engine)
    assert read_meta(engine, P.META_MODE) == P.INCREMENTAL
    patched = _marts_by_key(engine)
    assert (pd.to_datetime(patched[S.mart_user_days.name][C.FIRST_DAY]) == pd.Timestamp(earlier)).all()
    P.preprocess(engine, incremental=False)
    for name, full in _marts_by_key(engine).items():
        pd.testing.assert_frame_equal(patched[name], full, obj=name)
    engine.dispose()


def test_rebuilt_marts_keep_their_indexes(writable_tiny_url):
    engine = make_engine(writable_tiny_url)
    P.preprocess(engine, incremental=False)
    insp = sa.inspect(engine)
    for mart in S.MART_TABLES:
        assert {ix.name for ix in mart.indexes} <= {ix["name"] for ix in insp.get_indexes(mart.name)}, mart.name
    engine.dispose()


def test_marts_of_another_version_are_refused_then_rebuilt(writable_tiny_url):
    """A DE database whose marts an older version built (other columns, no layout stamp): pages get
    a clear message instead of an SQL error, and the next preprocess rebuilds every mart whole."""
    engine = make_engine(writable_tiny_url)
    old = sa.Table(S.mart_user_days.name, sa.MetaData(), sa.Column(C.USER_ID, S.Id, primary_key=True),
                   sa.Column("days_active", sa.Text))
    with engine.begin() as conn:
        S.mart_user_days.drop(conn)
        old.create(conn)
        conn.execute(S.de_meta.delete().where(S.de_meta.c.key == S.META_MART_LAYOUT))
    with pytest.raises(KurrantError, match="another version"):
        check_ready(engine)
    P.preprocess(engine)                              # would patch, if the layout were current
    assert read_meta(engine, P.META_MODE) == P.FULL
    check_ready(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns(S.mart_user_days.name)}
    assert columns == {c.name for c in S.mart_user_days.columns}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.mart_user_days)).scalar_one() > 0
    engine.dispose()
