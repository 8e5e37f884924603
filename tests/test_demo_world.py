"""The demo world behaves like the real service, and deterministically.

Users order only from their group's menu of the day, never before joining or after leaving, never a
food they are allergic to; their choices reveal the tastes saved in ``demo__user_taste``; menus exist
only on service days; the same seed gives the same tables. Checked on SQLite and MariaDB with SQL
joins over the raw mirror tables, independent of the generator's internals.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS, TINY_SEED, drop_database, new_database_url

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.db import init_db, make_engine
from kurrant_core.demo import SCALES, WORLD_TABLES, build_world, generate_demo_world, writer
from kurrant_core.demo.calendar import KOREAN_HOLIDAYS, next_service_days
from kurrant_core.demo.catalog import MAKER_KINDS, SOUTHEAST_ASIAN
from kurrant_core.errors import KurrantError

TINY = SCALES["tiny"]
USER_GROUP_ID, MENU_GROUP_ID = "user_group_id", "menu_group_id"       # labels of this test's joins
JOINED_AT, LEFT_AT, CLIENT_STATUS = "joined_at", "left_at", "client_status"
SLOT_DATE, SLOT_DINING, ALLERGY_INFO, TOP_CUISINE = "slot_date", "slot_dining", "allergy_info", "top_cuisine"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[tuple[sa.Engine, dict[str, int]]]:
    """The tiny world generated once per backend, with the row counts the generator returned."""
    url = new_database_url(request.param, tmp_path_factory.mktemp("demo_world"))
    engine = make_engine(url)
    init_db(engine)
    counts = generate_demo_world(engine, scale="tiny", seed=TINY_SEED)
    yield engine, counts
    engine.dispose()
    drop_database(url)


def _frame(engine: sa.Engine, query) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all())


def _table(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    (key,) = table.primary_key.columns
    frame = _frame(engine, sa.select(table).order_by(key))
    return frame if len(frame) else pd.DataFrame(columns=table.c.keys())


def _ordered_items(engine: sa.Engine) -> pd.DataFrame:
    """One row per ordered item: who ordered, from which menu, and the user's group membership."""
    oid, oi, o, df = S.order_item_dailyfood, S.order_item, S.order, S.daily_food
    dfg, ug = S.order_item_dailyfood_group, S.user_group
    query = (
        sa.select(oi.c.id.label(C.ORDER_ITEM_ID), o.c.user_id.label(C.USER_ID),
                  o.c.created_date_time.label(C.ORDERED_AT), oi.c.e_order_status.label(C.ORDER_STATUS),
                  df.c.food_id.label(C.FOOD_ID), df.c.group_id.label(MENU_GROUP_ID),
                  df.c.service_date.label(C.SERVICE_DATE), df.c.e_dining_type.label(C.DINING_TYPE),
                  dfg.c.service_date.label(SLOT_DATE), dfg.c.e_dining_type.label(SLOT_DINING),
                  ug.c.group_id.label(USER_GROUP_ID), ug.c.created_date_time.label(JOINED_AT),
                  ug.c.updated_date_time.label(LEFT_AT), ug.c.client_status.label(CLIENT_STATUS))
        .select_from(oid.join(oi, oi.c.id == oid.c.id).join(o, o.c.id == oi.c.order_id)
                     .join(df, df.c.id == oid.c.daily_food_id)
                     .join(dfg, dfg.c.id == oid.c.order_item_daily_food_group_id)
                     .join(ug, ug.c.user_id == o.c.user_id)))
    items = _frame(engine, query)
    items[C.SERVICE_DATE] = pd.to_datetime(items[C.SERVICE_DATE])
    items[SLOT_DATE] = pd.to_datetime(items[SLOT_DATE])
    return items


def _food_tags(engine: sa.Engine) -> dict[int, list[int]]:
    rows = _frame(engine, sa.select(S.food.c.id.label(C.FOOD_ID), S.food.c.e_food_tags.label(C.FOOD_TAGS)))
    return {int(r[C.FOOD_ID]): codes.parse_codes(r[C.FOOD_TAGS]) for _, r in rows.iterrows()}


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_tables_other_seed_different(tmp_path):
    def world_tables(name: str, seed: int) -> dict[str, pd.DataFrame]:
        engine = make_engine(f"sqlite:///{tmp_path / name}.sqlite")
        init_db(engine)
        generate_demo_world(engine, scale="tiny", seed=seed)
        tables = {t.name: _table(engine, t) for t in WORLD_TABLES}
        engine.dispose()
        return tables

    first, again, other = world_tables("a", 3), world_tables("b", 3), world_tables("c", 4)
    for name, frame in first.items():
        assert len(frame), name
        pd.testing.assert_frame_equal(frame, again[name], obj=name)
    differs = [name for name, frame in first.items()
               if frame.shape != other[name].shape or not frame.equals(other[name])]
    assert {S.order.name, S.food.name, S.user_user.name, S.demo_user_taste.name} <= set(differs)


def test_regenerating_replaces_the_previous_world(world):
    engine, counts = world
    again = generate_demo_world(engine, scale="tiny", seed=TINY_SEED)
    assert again == counts
    with engine.connect() as conn:
        for table in WORLD_TABLES:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == counts[table.name]


def test_unknown_scale_is_a_kurrant_error(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    init_db(engine)
    with pytest.raises(KurrantError, match="tiny, demo, large"):
        generate_demo_world(engine, scale="huge")


# ------------------------------------------------------------------------------ writing
def _expected_frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame({name: writer._python_values(values) for name, values in columns.items()})


def _nulls_as_none(values: pd.Series) -> list:
    return values.astype(object).where(values.notna(), None).tolist()


def _assert_round_trip(engine: sa.Engine, built: dict) -> None:
    """What the database holds equals what the generator built, column by column."""
    for table in WORLD_TABLES:
        stored = _table(engine, table)
        expected = _expected_frame(built[table])[stored.columns]
        assert len(stored) == len(expected), table.name
        for name in stored.columns:
            got, want = (_nulls_as_none(f[name]) for f in (stored, expected))
            if table.c[name].type.python_type is float:
                np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float),
                                           rtol=1e-5, err_msg=f"{table.name}.{name}")   # MySQL FLOAT
            else:
                assert got == want, f"{table.name}.{name}"


def test_tables_hold_exactly_what_was_generated(world):
    """SQLite takes the executemany path, MariaDB the LOAD DATA LOCAL INFILE path."""
    engine, counts = world
    built = build_world(TINY, TINY_SEED)
    assert counts == {t.name: len(next(iter(built[t].values()))) for t in WORLD_TABLES}
    _assert_round_trip(engine, built)


def test_insert_fallback_when_local_files_are_refused(empty_engine, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise sa.exc.OperationalError("LOAD DATA", {}, Exception("local files disabled"))
    monkeypatch.setattr(writer, "_load_data_local", refuse)
    generate_demo_world(empty_engine, scale="tiny", seed=TINY_SEED)
    _assert_round_trip(empty_engine, build_world(TINY, TINY_SEED))


# ------------------------------------------------------------------------------ behaviour
def test_users_order_only_from_their_groups_menu_of_that_day(world):
    engine, counts = world
    items = _ordered_items(engine)
    assert len(items) == counts[S.order_item.name] > 300          # every item joins to its menu and user
    assert (items[MENU_GROUP_ID] == items[USER_GROUP_ID]).all()
    assert (items[SLOT_DATE] == items[C.SERVICE_DATE]).all()
    assert (items[SLOT_DINING] == items[C.DINING_TYPE]).all()
    assert items[C.SERVICE_DATE].max() <= pd.Timestamp(TINY.end)

    spots = _frame(engine, sa.select(S.user_spot.c.user_id.label(C.USER_ID),
                                     S.client_spot.c.client_group_id.label(C.GROUP_ID))
                   .join_from(S.user_spot, S.client_spot, S.client_spot.c.id == S.user_spot.c.spot_id))
    groups = _frame(engine, sa.select(S.user_group.c.user_id.label(C.USER_ID), S.user_group.c.group_id))
    assert (spots.set_index(C.USER_ID)[C.GROUP_ID].sort_index()
            == groups.set_index(C.USER_ID)[S.user_group.c.group_id.name].sort_index()).all()


def test_no_order_before_joining_or_after_leaving(world):
    engine, _ = world
    items = _ordered_items(engine)
    assert (pd.to_datetime(items[C.ORDERED_AT]) >= pd.to_datetime(items[JOINED_AT])).all()
    assert (pd.to_datetime(items[C.ORDERED_AT]).dt.normalize() < items[C.SERVICE_DATE]).all()
    left = items[items[CLIENT_STATUS] == codes.CLIENT_WITHDRAWN]
    assert len(left), "some users who later left had ordered before"
    assert (left[C.SERVICE_DATE] < pd.to_datetime(left[LEFT_AT]).dt.normalize()).all()
    late = items[pd.to_datetime(items[JOINED_AT]) > pd.Timestamp(TINY.start)]
    assert late[C.USER_ID].nunique() >= 3, "users who joined during the period order too"

    users = _table(engine, S.user_user)
    members = _table(engine, S.user_group).set_index(S.user_group.c.user_id.name)
    withdrawn = users[users[S.user_user.c.e_user_status.name] == codes.USER_WITHDRAWN]
    assert len(withdrawn)
    assert (members.loc[withdrawn[S.user_user.c.id.name], CLIENT_STATUS] == codes.CLIENT_WITHDRAWN).all()
    existing = (pd.to_datetime(users[S.user_user.c.created_date_time.name]) < pd.Timestamp(TINY.start)).mean()
    assert 0.4 < existing < 0.8
    assert 0.05 < (members[CLIENT_STATUS] == codes.CLIENT_WITHDRAWN).mean() < 0.3


def test_nobody_orders_a_food_they_are_allergic_to(world):
    engine, _ = world
    prefs = _frame(engine, sa.select(S.user_preference.c.user_id.label(C.USER_ID),
                                     S.user_preference.c.allergy_info.label(ALLERGY_INFO)))
    allergies = {int(r[C.USER_ID]): set(codes.parse_codes(r[ALLERGY_INFO])) for _, r in prefs.iterrows()
                 if r[ALLERGY_INFO]}
    assert len(allergies) >= 3
    tags = _food_tags(engine)
    items = _ordered_items(engine)
    ordered = items[items[C.USER_ID].isin(allergies)]
    assert len(ordered) > 20
    assert not any(allergies[u] & set(tags[f]) for u, f in zip(ordered[C.USER_ID], ordered[C.FOOD_ID]))

    # the filter mattered: allergic users' menus did carry their allergens on some days
    menus = _table(engine, S.daily_food)
    group_of = items.drop_duplicates(C.USER_ID).set_index(C.USER_ID)[USER_GROUP_ID]
    offered = menus.groupby(S.daily_food.c.group_id.name)[S.daily_food.c.food_id.name].agg(set)
    assert any(allergies[u] & set().union(*(tags[f] for f in offered[group_of[u]]))
               for u in allergies if u in group_of.index)


def test_choices_reveal_the_saved_latent_tastes(world):
    engine, _ = world
    tags = _food_tags(engine)
    items = _ordered_items(engine)
    items["cuisine"] = items[C.FOOD_ID].map(lambda f: codes.first_tag(tags[f], codes.CUISINE))
    counts = items.groupby([C.USER_ID, "cuisine"]).size().reset_index(name="n")
    favourite = (counts.sort_values([C.USER_ID, "n", "cuisine"], ascending=[True, False, True])
                 .drop_duplicates(C.USER_ID).set_index(C.USER_ID)["cuisine"])
    n_orders = items.groupby(C.USER_ID).size()
    regulars = n_orders[n_orders >= 5].index
    truth = _frame(engine, sa.select(S.demo_user_taste.c.user_id.label(C.USER_ID),
                                     S.demo_user_taste.c.top_cuisine.label(TOP_CUISINE)))
    all_truth = truth.set_index(C.USER_ID)[TOP_CUISINE]
    truth = all_truth.loc[regulars]
    assert len(regulars) >= 30
    match = (favourite.loc[regulars] == truth).mean()
    shuffled = np.mean([(favourite.loc[regulars].to_numpy() == np.random.default_rng(i).permutation(truth))
                        .mean() for i in range(20)])
    assert match > 0.5
    assert match > 2 * shuffled

    # reviews agree: foods of the user's favourite cuisine get better satisfaction
    rv = S.review.c
    reviews = _frame(engine, sa.select(rv.user_id.label(C.USER_ID), rv.food_id.label(C.FOOD_ID),
                                       rv.satisfaction.label(C.SATISFACTION)))
    top = (reviews[C.FOOD_ID].map(lambda f: codes.first_tag(tags[f], codes.CUISINE))
           == reviews[C.USER_ID].map(all_truth))
    assert top.sum() >= 20 and (~top).sum() >= 20
    assert reviews.loc[top, C.SATISFACTION].mean() > reviews.loc[~top, C.SATISFACTION].mean() + 0.1


def test_menus_only_on_service_days_and_published_ahead(world):
    engine, _ = world
    menus = _table(engine, S.daily_food)
    dates = pd.to_datetime(menus[S.daily_food.c.service_date.name]).dt.date
    assert (pd.to_datetime(dates).dt.weekday < 5).all()
    assert not set(dates) & KOREAN_HOLIDAYS
    assert {d for d in KOREAN_HOLIDAYS if TINY.start <= d <= TINY.end}, "the tiny period spans holidays"

    upcoming = set(next_service_days(TINY.end, TINY.upcoming_days))
    status = menus[S.daily_food.c.e_status.name]
    assert set(dates[status == codes.DAILY_FOOD_ON_SALE]) == upcoming
    assert (status[dates <= TINY.end] == codes.DAILY_FOOD_CLOSED).all()
    items = _ordered_items(engine)
    assert items[C.SERVICE_DATE].max() == pd.Timestamp(TINY.end)


def test_menus_rotate_and_have_a_handful_of_foods(world):
    engine, _ = world
    menus = _table(engine, S.daily_food)
    df = S.daily_food.c
    lunch = menus[menus[df.e_dining_type.name] == codes.LUNCH]
    sizes = lunch.groupby([df.group_id.name, df.service_date.name]).size()
    assert sizes.between(3, 8).all() and sizes.mean() >= 4
    days = lunch.groupby(df.group_id.name)[df.service_date.name].nunique()
    share = lunch.groupby([df.group_id.name, df.food_id.name]).size() / days
    assert share.max() < 0.6, "no food is on the menu nearly every day"
    dining = _table(engine, S.client_group)[S.client_group.c.dining_types.name]
    assert all(codes.LUNCH in codes.parse_codes(d) for d in dining)
    assert set(lunch[df.group_id.name]) == set(_table(engine, S.client_group)[S.client_group.c.id.name])


def test_foods_have_consistent_tags_prices_and_makers(world):
    engine, _ = world
    foods = _table(engine, S.food)
    makers = _table(engine, S.makers).set_index(S.makers.c.id.name)
    tag_lists = [codes.parse_codes(t) for t in foods[S.food.c.e_food_tags.name]]
    allergen = {label: code for code, label in codes.FOOD_TAG.items()
                if codes.tag_category(code) == codes.ALLERGY}
    for tags, maker in zip(tag_lists, foods[S.food.c.makers_id.name]):
        assert len(codes.tags_in(tags, codes.SPICINESS)) == 1
        assert len(codes.tags_in(tags, codes.CUISINE)) == 1
        assert len(codes.tags_in(tags, codes.MAIN_INGREDIENT)) == 1
        assert len(codes.tags_in(tags, codes.FOOD_TYPE)) == 1
        ingredient = codes.FOOD_TAG[codes.first_tag(tags, codes.MAIN_INGREDIENT)]
        for meat, allergy in (("돼지고기", "돼지고기"), ("소고기", "쇠고기"), ("닭고기", "닭고기"), ("달걀", "난류")):
            if ingredient == meat:
                assert allergen[allergy] in tags
        kind = codes.FOOD_TAG[codes.first_tag(tags, codes.FOOD_KIND)]
        rice_noodles = kind == "면류" and codes.first_tag(tags, codes.CUISINE) == SOUTHEAST_ASIAN
        if kind in ("면류", "파스타", "만두", "버거", "피자", "샌드위치") and not rice_noodles:
            assert allergen["밀"] in tags
        kitchens = [k for k, v in MAKER_KINDS.items()
                    if v[0] == makers.loc[maker, S.makers.c.e_service_type.name]]
        assert any(codes.first_tag(tags, codes.CUISINE) in MAKER_KINDS[k][1] for k in kitchens)
    price = foods[S.food.c.price.name]
    assert price.between(5500, 15000).all() and (price % 500 == 0).all()
    assert (foods[S.food.c.supply_price.name] < price).all()
    assert foods[S.food.c.name.name].nunique() >= 0.8 * len(foods)


def test_orders_reviews_and_statuses_look_like_production(world):
    engine, _ = world
    items = _ordered_items(engine)
    per_day = items.groupby([C.USER_ID, C.SERVICE_DATE])[C.ORDER_ITEM_ID].count()
    orders = _table(engine, S.order)
    assert len(orders) == len(per_day)                                  # one order per user and day
    lines = _table(engine, S.order_item_dailyfood)
    line = S.order_item_dailyfood.c
    assert (lines[line.count.name] >= 1).all() and (lines[line.count.name] == 1).mean() > 0.85
    assert (lines[line.discounted_price.name] <= lines[line.price.name]).all()
    order_of = _table(engine, S.order_item).set_index(S.order_item.c.id.name)[S.order_item.c.order_id.name]
    totals = lines.groupby(order_of.loc[lines[line.id.name]].to_numpy())[line.discounted_price.name].sum()
    assert (orders.set_index(S.order.c.id.name)[S.order.c.total_price.name].loc[totals.index] == totals).all()

    status = items[C.ORDER_STATUS]
    assert 0.01 < (status == codes.ORDER_CANCELLED).mean() < 0.1
    assert set(status) == {codes.ORDER_CANCELLED, codes.ORDER_RECEIVED, codes.ORDER_REVIEWED}
    reviews = _table(engine, S.review)
    rv = S.review.c
    reviewed = set(items.loc[status == codes.ORDER_REVIEWED, C.ORDER_ITEM_ID])
    assert set(reviews[rv.order_item_id.name]) == reviewed
    assert 0.08 < len(reviews) / (status != codes.ORDER_CANCELLED).sum() < 0.25
    assert reviews[rv.satisfaction.name].between(1, 5).all() and reviews[rv.satisfaction.name].nunique() >= 3
    snapshot = pd.Timestamp(datetime.combine(TINY.end, datetime.max.time()))
    for table in (S.order_item, S.review, S.user_user, S.food, S.daily_food, S.user_group):
        updated = pd.to_datetime(_table(engine, table)[table.c.updated_date_time.name])
        assert updated.notna().all() and (updated <= snapshot).all(), table.name


# ------------------------------------------------------------------------------ command line
def test_demo_data_command_writes_the_world_and_reports_rows(empty_engine, capsys):
    from kurrant_core.cli import main
    url = empty_engine.url.render_as_string(hide_password=False)
    assert main(["--url", url, "demo-data", "--scale", "tiny", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    with empty_engine.connect() as conn:
        n_items = conn.execute(sa.select(sa.func.count()).select_from(S.order_item)).scalar()
    assert n_items > 300
    assert f"{S.order_item.name}" in out and f"{n_items:,}" in out
    with pytest.raises(SystemExit):
        main(["--url", url, "demo-data", "--scale", "huge"])
