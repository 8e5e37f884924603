"""Preprocess builds the marts from the raw mirror; checked against an independent pandas join."""
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, preprocess as P, schema as S
from kurrant_core.db import make_engine, read_meta


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
    P.preprocess(engine)               # a good run then picks the change up
    assert not _table(engine, S.mart_order_item)[C.IS_PAID].astype(bool).any()
    engine.dispose()
