"""Training data: id maps, the cutoff, time decay, features, allergies and menu exposures, each
checked against an independent pandas computation on the marts."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.data import (
    ALLERGY_CODES,
    CHOSEN,
    ITEM_IDX,
    MENU_WITHDRAWN_STATUSES,
    USER_IDX,
    TrainingData,
    build_training_data,
)
from kurrant_core.errors import KurrantError

HOLDOUT_DAYS = 14


def read_mart(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(table), conn)
    if C.SERVICE_DATE in frame:
        frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE])
    return frame


@pytest.fixture(scope="session")
def marts(tiny_engine) -> dict[str, pd.DataFrame]:
    return {t.name: read_mart(tiny_engine, t) for t in S.MART_TABLES}


@pytest.fixture(scope="session")
def cutoff(marts):
    """Two weeks before the last service date: the tiny world's own holdout."""
    last = marts[S.mart_order_item.name][C.SERVICE_DATE].max()
    return (last - pd.Timedelta(days=HOLDOUT_DAYS)).date()


@pytest.fixture(scope="session")
def data(tiny_engine, cutoff) -> TrainingData:
    return build_training_data(tiny_engine, cutoff)


def paid_before(marts, cutoff) -> pd.DataFrame:
    items = marts[S.mart_order_item.name]
    return items[items[C.IS_PAID].astype(bool) & (items[C.SERVICE_DATE] < pd.Timestamp(cutoff))]


# ------------------------------------------------------------------------------ ids and cutoff
def test_id_maps_are_contiguous_and_cover_every_mart_row(data, marts):
    users, foods = marts[S.mart_user.name], marts[S.mart_food.name]
    assert sorted(users[C.USER_ID]) == data.user_ids.tolist()
    assert sorted(foods[C.FOOD_ID]) == data.food_ids.tolist()
    assert sorted(data.user_index.values()) == list(range(len(users)))
    assert all(data.user_ids[k] == uid for uid, k in data.user_index.items())
    assert all(data.food_ids[k] == fid for fid, k in data.food_index.items())
    assert (data.user_ids[data.orders[USER_IDX]] == data.orders[C.USER_ID].to_numpy()).all()
    assert (data.food_ids[data.orders[ITEM_IDX]] == data.orders[C.FOOD_ID].to_numpy()).all()
    assert (data.food_ids[data.menus[ITEM_IDX]] == data.menus[C.FOOD_ID].to_numpy()).all()
    assert data.foods[C.FOOD_ID].tolist() == data.food_ids.tolist()
    assert data.users[C.USER_ID].tolist() == data.user_ids.tolist()


def test_counts_hold_only_paid_items_before_the_cutoff(data, marts, cutoff):
    items = marts[S.mart_order_item.name]
    assert (~items[C.IS_PAID].astype(bool)).any(), "the tiny world should have unpaid items to leave out"
    assert (items[C.SERVICE_DATE] >= pd.Timestamp(cutoff)).any()
    expected = paid_before(marts, cutoff).groupby([C.USER_ID, C.FOOD_ID]).size()
    coo = data.counts.tocoo()
    got = pd.Series(coo.data, index=pd.MultiIndex.from_arrays(
        [data.user_ids[coo.row], data.food_ids[coo.col]], names=[C.USER_ID, C.FOOD_ID])).sort_index()
    pd.testing.assert_series_equal(got, expected.sort_index().astype(float), check_names=False)
    assert data.orders[C.SERVICE_DATE].max() < pd.Timestamp(cutoff)


def test_default_cutoff_is_the_day_after_the_last_service_date(tiny_engine, marts):
    full = build_training_data(tiny_engine)
    last = marts[S.mart_order_item.name][C.SERVICE_DATE].max().date()
    assert full.cutoff == last + timedelta(days=1)
    assert full.counts.sum() == len(paid_before(marts, full.cutoff))


def test_orders_are_sorted_by_user_then_date_and_sequences_follow_them(data):
    keys = data.orders[[USER_IDX, C.SERVICE_DATE]]
    assert keys.equals(keys.sort_values([USER_IDX, C.SERVICE_DATE]))
    lengths = np.array([len(s) for s in data.sequences])
    assert lengths.tolist() == np.asarray(data.counts.sum(axis=1)).ravel().astype(int).tolist()
    u = int(np.argmax(lengths))
    rows = data.orders[data.orders[USER_IDX] == u]
    assert data.sequences[u].tolist() == rows[ITEM_IDX].tolist()
    assert rows[C.SERVICE_DATE].is_monotonic_increasing


def test_cold_users_are_exactly_those_without_paid_orders_before_the_cutoff(data, marts, cutoff):
    warm = set(paid_before(marts, cutoff)[C.USER_ID])
    assert {int(x) for x in data.user_ids[~data.cold]} == warm
    assert data.cold.any(), "the tiny world should have users who joined after the cutoff"


# ------------------------------------------------------------------------------ time decay
def test_decay_halves_an_item_eaten_half_life_days_before_the_last_training_day(tiny_engine, marts):
    served = set(paid_before(marts, pd.Timestamp.max)[C.SERVICE_DATE])
    week = pd.Timedelta(days=7)
    day = max(d for d in served if d - week in served and d - 2 * week in served)
    data = build_training_data(tiny_engine, (day + pd.Timedelta(days=1)).date(), half_life_days=7.0)
    weights = pd.Series(data.decay_weights()).groupby(data.orders[C.SERVICE_DATE].to_numpy())
    assert (weights.min() == weights.max()).all()          # one weight per service day
    per_day = weights.max()
    assert per_day[day] == pytest.approx(1.0)               # the day before the cutoff
    assert per_day[day - week] == pytest.approx(0.5)        # one half-life earlier
    assert per_day[day - 2 * week] == pytest.approx(0.25)
    assert per_day.is_monotonic_increasing


def test_interactions_sum_decayed_weights_per_cell(data, marts, cutoff):
    paid = paid_before(marts, cutoff)
    counts = paid.groupby([C.USER_ID, C.FOOD_ID]).size()
    user_id, food_id = counts.idxmax()             # a cell eaten several times
    days = paid[(paid[C.USER_ID] == user_id) & (paid[C.FOOD_ID] == food_id)][C.SERVICE_DATE]
    ages = [(pd.Timestamp(cutoff) - pd.Timedelta(days=1) - d).days for d in days]
    expected = sum(0.5 ** (a / data.half_life_days) for a in ages)
    got = data.interactions[data.user_index[user_id], data.food_index[food_id]]
    assert counts.max() >= 2
    assert got == pytest.approx(expected)


# ------------------------------------------------------------------------------ foods and users
def test_food_features_are_unit_rows_with_one_name_per_column(data):
    norms = np.sqrt(np.asarray(data.food_features.multiply(data.food_features).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0)
    assert data.food_features.shape == (data.n_foods, len(data.feature_names))
    assert len(data.feature_codes) == len(data.feature_names)
    # the tag block carries every taste tag a food has
    f = 0
    tags = [c for c in codes.parse_codes(data.foods[C.FOOD_TAGS].iloc[f]) if c not in ALLERGY_CODES]
    cols = {data.tag_feature_index[c] for c in tags}
    assert cols <= set(data.food_features[f].indices)


def test_allergen_matrices_match_the_mart_strings(data):
    for frame, matrix in ((data.foods, data.food_allergens), (data.users, data.user_allergens)):
        assert matrix.shape == (len(frame), len(ALLERGY_CODES))
        for row, tags in enumerate(frame[C.ALLERGY_TAGS]):
            expected = sorted(ALLERGY_CODES.index(c) for c in codes.parse_codes(tags))
            assert sorted(matrix[row].indices) == expected
    assert data.user_allergens.nnz > 0, "the tiny world should have users with allergies"
    assert data.food_category.tolist() == data.foods[C.CUISINE_CODE].fillna(-1).astype(int).tolist()


def test_user_group_and_catalog_come_from_the_marts(data):
    assert data.user_group.tolist() == data.users[C.GROUP_ID].fillna(-1).astype(int).tolist()
    on_sale = data.foods[C.FOOD_STATUS] == codes.FOOD_ON_SALE
    assert data.food_ids[data.catalog].tolist() == data.foods[C.FOOD_ID][on_sale].tolist()


def test_unknown_ids_raise_kurrant_error(data):
    with pytest.raises(KurrantError, match="not in the DE database"):
        data.user_indices([int(data.user_ids.max()) + 1])
    with pytest.raises(KurrantError, match="mart_food"):
        data.food_indices([-5])


# ------------------------------------------------------------------------------ menus and exposures
def visible_menu(marts) -> pd.DataFrame:
    menu = marts[S.mart_daily_menu.name]
    return menu[~menu[C.DAILY_FOOD_STATUS].isin(MENU_WITHDRAWN_STATUSES)]


def test_menus_cover_every_date_including_after_the_cutoff(data, marts, cutoff):
    menu = visible_menu(marts)
    assert len(data.menus) == len(menu)
    assert data.menus[C.SERVICE_DATE].max() >= pd.Timestamp(cutoff)
    row = menu.iloc[len(menu) // 2]
    expected = sorted(menu[(menu[C.GROUP_ID] == row[C.GROUP_ID]) & (menu[C.SERVICE_DATE] == row[C.SERVICE_DATE])
                           & (menu[C.DINING_TYPE] == row[C.DINING_TYPE])][C.FOOD_ID].unique())
    got = data.menu_items(row[C.GROUP_ID], row[C.SERVICE_DATE].date(), row[C.DINING_TYPE])
    assert data.food_ids[got].tolist() == expected
    assert len(data.menu_items(-1, cutoff, codes.LUNCH)) == 0


def test_exposures_mark_exactly_the_ordered_foods_of_each_menu(data, marts, cutoff):
    keys = [USER_IDX, C.SERVICE_DATE, C.DINING_TYPE]
    ex = data.exposures
    paid = paid_before(marts, cutoff)
    ordered = paid.groupby([C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE])[C.FOOD_ID].apply(frozenset)
    menu = visible_menu(marts).groupby([C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE])[C.FOOD_ID].apply(frozenset)
    meals = paid.drop_duplicates([C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE])
    assert ex.groupby(keys).ngroups == len(meals)
    group_of_meal = data.orders.groupby(keys)[C.GROUP_ID].first()
    for (u, day, dining), rows in ex.groupby(keys):
        user_id = int(data.user_ids[u])
        group_id = group_of_meal[(u, day, dining)]
        foods = data.food_ids[rows[ITEM_IDX]]
        assert frozenset(foods.tolist()) == menu[(group_id, day, dining)]
        assert len(foods) == len(set(foods.tolist()))
        chosen = frozenset(foods[rows[CHOSEN].to_numpy()].tolist())
        assert chosen == ordered[(user_id, day, dining)]
        assert len(chosen) >= 1
    assert ex[CHOSEN].dtype == bool


# ------------------------------------------------------------------------------ persistence
def test_long_menus_are_sampled_but_keep_every_choice(data, monkeypatch):
    """A menu longer than MAX_EXPOSED_PER_MENU keeps a seeded sample (the same for everyone on
    it) plus each user's chosen food; short menus are untouched."""
    import dataclasses

    import kurrant_core.data as data_module
    full = data.exposures
    monkeypatch.setattr(data_module, "MAX_EXPOSED_PER_MENU", 3)
    fresh = dataclasses.replace(data)                    # a new object: no cached exposures
    sampled = fresh.exposures
    meal = [USER_IDX, C.SERVICE_DATE, C.DINING_TYPE]
    assert len(sampled) < len(full)
    def chosen(ex):
        return set(map(tuple, ex.loc[ex[CHOSEN], [*meal, ITEM_IDX]].to_numpy().tolist()))
    assert chosen(sampled) == chosen(full)                # no choice lost
    per_meal = sampled.groupby(meal).agg(n=(ITEM_IDX, "size"), chosen=(CHOSEN, "sum"))
    assert (per_meal["n"] <= 3 + per_meal["chosen"]).all()
    assert set(map(tuple, sampled[[*meal, ITEM_IDX]].to_numpy().tolist())) <= \
        set(map(tuple, full[[*meal, ITEM_IDX]].to_numpy().tolist()))   # only foods really offered
    again = dataclasses.replace(data).exposures
    pd.testing.assert_frame_equal(again, sampled)         # seeded


def test_save_and_load_round_trip(data, tmp_path):
    data.save(tmp_path / "td")
    back = TrainingData.load(tmp_path / "td")
    assert back.cutoff == data.cutoff and back.half_life_days == data.half_life_days
    assert (back.interactions != data.interactions).nnz == 0
    assert (back.food_features != data.food_features).nnz == 0
    pd.testing.assert_frame_equal(back.exposures, data.exposures)
    assert back.feature_names == data.feature_names
