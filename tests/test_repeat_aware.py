"""Repeat-aware learned models: TIFU-KNN by hand, the history term and variety rule the learned
models add to their scores, the group offer rate of date-free lists, the choice-aware content
profile and the hybrid's repeat features (take rate, lifts), all on small hand-made worlds."""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kurrant_core import codes, columns as C
from kurrant_core.data import (
    CHOSEN,
    ITEM_IDX,
    USER_IDX,
    TrainingData,
    allergen_matrix,
    build_training_data,
    food_feature_matrix,
)
from kurrant_core.db import make_engine
from kurrant_core.models import make_model
from kurrant_core.models.choice_features import (
    FEATURE_NAMES,
    SET_ID,
    ChoiceFeatureBuilder,
    Feature,
    FoodAttributes,
    History,
    MenuChoices,
    _set_sizes,
    food_attribute_design,
    group_offer_rates,
    history_term,
    menu_choices,
    offer_rates_of,
    own_history,
    to_days,
    training_choice_sets,
)
from kurrant_core.models.shared_scores import offered_share
from kurrant_core.models.tifu import nearest_neighbours, user_frequency_vectors
from kurrant_core.models.torch_support import fit_choice_logit

CUTOFF = date(2026, 3, 16)
GROUP = 1
FOOD_IDS = np.arange(101, 106)
# food index: 0 A, 1 B, 2 C, 3 D, 4 E (E is on the menu only now and then)
A, B, C_, D, E = range(5)
MEALS = {   # user index -> (days before the cutoff, foods of that lunch), oldest first
    0: [(5, [A, C_]), (3, [B]), (1, [A])],
    1: [(4, [B]), (2, [B])],
    2: [(6, [D]), (2, [A])],
}
N_USERS = 4                     # user 3 has no order: cold
E_DAYS = {10, 6, 3}             # days before the cutoff whose menu had E


def small_world(meals=MEALS) -> TrainingData:
    """One group, lunch every day from 10 days before the cutoff to 3 days after; the menu is A-D
    plus E on ``E_DAYS``."""
    foods = pd.DataFrame({
        C.FOOD_ID: FOOD_IDS, C.FOOD_NAME: [f"food {f}" for f in "ABCDE"], C.MAKERS_ID: [1, 1, 2, 2, 3],
        C.MAKERS_NAME: ["m1", "m1", "m2", "m2", "m3"], C.FOOD_STATUS: codes.FOOD_ON_SALE,
        C.PRICE: [8000, 9000, 10000, 11000, 12000],
        C.FOOD_TAGS: ["1,3001", "1,3002", "3,3001", "3,3003", "4,3002"], C.CUISINE_CODE: [1, 1, 3, 3, 4],
        C.CUISINE_LABEL: ["한식", "한식", "일식", "일식", "양식"],
        C.MAIN_INGREDIENT_CODE: [3001, 3002, 3001, 3003, 3002], C.SPICINESS_CODE: 10001,
        C.ALLERGY_TAGS: "", C.CALORIE: 600.0, C.CARBOHYDRATE: 80.0, C.FAT: 20.0, C.PROTEIN: 30.0})
    user_ids = np.arange(1, N_USERS + 1)
    users = pd.DataFrame({C.USER_ID: user_ids, C.GROUP_ID: GROUP, C.FAVORITE_TAGS: "", C.ALLERGY_TAGS: "",
                          C.GROUP_NAME: "group"})
    rows = [(user_ids[u], FOOD_IDS[i], GROUP, pd.Timestamp(CUTOFF - timedelta(days=ago)), codes.LUNCH,
             int(foods[C.MAKERS_ID][i]), int(foods[C.CUISINE_CODE][i]), u, i)
            for u, lunches in meals.items() for ago, items in lunches for i in items]
    orders = pd.DataFrame(rows, columns=[C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE,
                                         C.MAKERS_ID, C.CUISINE_CODE, USER_IDX, ITEM_IDX])
    orders = orders.sort_values([USER_IDX, C.SERVICE_DATE], kind="stable").reset_index(drop=True)
    menu_rows = [(day, i) for ago in range(-3, 11) for day in [pd.Timestamp(CUTOFF - timedelta(days=ago))]
                 for i in range(5) if i != E or ago in E_DAYS]
    menus = pd.DataFrame([(k + 1, day, codes.LUNCH, GROUP, FOOD_IDS[i], int(foods[C.MAKERS_ID][i]),
                           codes.DAILY_FOOD_ON_SALE, 8000, i) for k, (day, i) in enumerate(menu_rows)],
                         columns=[C.DAILY_FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID,
                                  C.MAKERS_ID, C.DAILY_FOOD_STATUS, C.PRICE, ITEM_IDX])
    features, names, feature_codes = food_feature_matrix(foods)
    return TrainingData(cutoff=CUTOFF, half_life_days=30.0, user_ids=user_ids, food_ids=FOOD_IDS,
                        orders=orders, foods=foods, food_features=features, feature_names=names,
                        feature_codes=feature_codes, food_allergens=allergen_matrix(foods[C.ALLERGY_TAGS]),
                        users=users, user_allergens=allergen_matrix(users[C.ALLERGY_TAGS]), menus=menus)


@pytest.fixture(scope="module")
def world() -> TrainingData:
    return small_world()


LATER = CUTOFF + timedelta(days=3)
"""A day whose last service day (the day before) has no training order: no variety rule."""

# ------------------------------------------------------------------------------ TIFU-KNN
# group_size 2, within_decay 0.5, group_decay 0.25; meals numbered back from the newest:
# user 0: t0 {A} (group 0, pos 0), t1 {B} (group 0, pos 1), t2 {A, C} (group 1 of size 1); 2 groups
#   A = 1/(2*2) + 0.25/(1*2) = 0.375, B = 0.5/(2*2) = 0.125, C = 0.25/(1*2) = 0.125
# user 1: t0 {B}, t1 {B}, one group of 2: B = 1/2 + 0.5/2 = 0.75
# user 2: t0 {A}, t1 {D}: A = 0.5, D = 0.25
OWN_BY_HAND = np.array([[0.375, 0.125, 0.125, 0, 0], [0, 0.75, 0, 0, 0], [0.5, 0, 0, 0.25, 0], [0, 0, 0, 0, 0]])
TIFU_PARAMS = dict(group_size=2, within_decay=0.5, group_decay=0.25, n_neighbours=1, alpha=0.6)


def test_tifu_frequency_vectors_by_hand(world):
    own = user_frequency_vectors(world, group_size=2, within_decay=0.5, group_decay=0.25)
    np.testing.assert_allclose(own.toarray(), OWN_BY_HAND)


def test_tifu_nearest_neighbours_by_cosine(world):
    # cos(u0, u2) = 0.1875 / (0.4146 * 0.5590) = 0.81 > cos(u0, u1) = 0.30; u1 and u2 share nothing
    near = nearest_neighbours(sp.csr_matrix(OWN_BY_HAND), 1).toarray()
    np.testing.assert_array_equal(near, [[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    two = nearest_neighbours(sp.csr_matrix(OWN_BY_HAND), 5).toarray()     # capped at the 2 others
    np.testing.assert_allclose(two.sum(axis=1), [1, 1, 1, 0])
    assert (np.diag(two) == 0).all()


def test_tifu_scores_blend_own_and_neighbours_by_hand(world):
    model = make_model("tifu", variety_strength=0.0, **TIFU_PARAMS).fit(world)
    blend = 0.6 * OWN_BY_HAND[0] + 0.4 * OWN_BY_HAND[2]          # user 0's neighbour is user 2
    expected = blend / blend.max()
    got = model.score([1], as_of=LATER)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)         # + a popularity tie-break below 1e-5
    assert got[E] < 1e-5                                          # nobody near had E (nor anybody)
    ranked = model.recommend([1], k=5, service_date=LATER)[C.FOOD_ID].tolist()
    assert ranked[:2] == [FOOD_IDS[A], FOOD_IDS[D]]               # D only through the neighbour


def test_tifu_variety_rule_holds_back_yesterdays_food(world):
    model = make_model("tifu", variety_strength=0.5, **TIFU_PARAMS).fit(world)
    today, later = model.score([1], as_of=CUTOFF)[0], model.score([1], as_of=LATER)[0]
    # user 0 had A on the last service day before the cutoff: it keeps half its score
    np.testing.assert_allclose(today[A], 0.5 * later[A], atol=1e-5)
    np.testing.assert_allclose(np.delete(today, A), np.delete(later, A))
    strict = make_model("tifu", variety_strength=1.0, **TIFU_PARAMS).fit(world)
    pick = strict.recommend([1], k=1, service_date=CUTOFF)[C.FOOD_ID].item()
    assert pick == FOOD_IDS[D]                                    # A would be first without the rule
    assert "recent service day" in strict.explain(1, [FOOD_IDS[A]])[0]


# ------------------------------------------------------------------------------ the history term
def test_history_term_is_the_decayed_share_minus_the_variety_rule(world):
    history = own_history(world, half_life_days=1e9, variety_days=1)     # no decay: plain shares
    u, i = np.array([0, 1]), np.arange(5)
    term = history_term(history, u, i, CUTOFF, weight=2.0, variety_strength=0.5)
    share0 = np.array([2, 1, 1, 0, 0]) / 4                               # user 0 ate A twice, B, C
    np.testing.assert_allclose(term[0], 2.0 * (share0 - 0.5 * np.array([1, 0, 0, 0, 0])), atol=1e-9)
    np.testing.assert_allclose(term[1], [0, 2.0, 0, 0, 0], atol=1e-9)    # user 1 had nothing yesterday
    np.testing.assert_allclose(history_term(history, u, i, LATER, 2.0, 0.5)[0], 2.0 * share0, atol=1e-9)
    assert not history_term(history, u, i, CUTOFF, 0.0, 0.5).any()


@pytest.mark.parametrize("name, params", [
    ("als", dict(factors=2, iterations=3)), ("content", {}), ("ncf", dict(factors=4, epochs=1))])
def test_the_history_term_adds_to_the_models_own_score(world, name, params):
    """Same seed, same network or factors: the difference between history_weight w and 0 is the
    history term itself, so a user's own favourite rises and yesterday's food drops."""
    plain = make_model(name, history_weight=0.0, **params).fit(world)
    aware = make_model(name, history_weight=3.0, variety_strength=0.5, **params).fit(world)
    u, i = np.arange(3), np.arange(5)
    for day in (CUTOFF, LATER):
        expected = history_term(aware.history_, u, i, day, 3.0, 0.5)
        np.testing.assert_allclose(aware.score(world.user_ids[:3], as_of=day) -
                                   plain.score(world.user_ids[:3], as_of=day), expected, atol=1e-5)
    # user 1 only ever ate B: with the history term B is their pick
    assert aware.recommend([2], k=1, service_date=LATER)[C.FOOD_ID].item() == FOOD_IDS[B]
    # user 0's A (their favourite) goes down on the day after they ate it
    today = aware.score([1], as_of=CUTOFF)[0]
    later = aware.score([1], as_of=LATER)[0]
    assert today[A] < later[A] and np.allclose(np.delete(today, A), np.delete(later, A), atol=1e-5)


def test_the_history_term_survives_save_and_load(world, tmp_path):
    model = make_model("als", factors=2, iterations=3).fit(world)
    back = type(model).load(model.save(tmp_path / "als"))
    for day in (CUTOFF, LATER):
        np.testing.assert_allclose(back.score(world.user_ids, as_of=day), model.score(world.user_ids, as_of=day),
                                   rtol=1e-6)


# ------------------------------------------------------------------------------ offer rates
def test_group_offer_rate_is_the_decayed_share_of_menu_days_by_hand(world):
    groups, rates = group_offer_rates(world, half_life_days=5.0)
    assert groups.tolist() == [GROUP]
    # past service days: 10 .. 1 days before the cutoff; a day d before it weighs 2 ** (-(d - 1) / 5)
    weight = {d: 2.0 ** (-(d - 1) / 5.0) for d in range(1, 11)}
    expected_e = sum(weight[d] for d in E_DAYS) / sum(weight.values())
    np.testing.assert_allclose(rates[0], [1, 1, 1, 1, expected_e])
    rows = offer_rates_of(groups, rates, np.array([GROUP, 99]), np.array([0, 1]), np.array([A, E]))
    np.testing.assert_allclose(rows, [[1, expected_e], [1, 1]])        # an unknown group: no change


def test_date_free_lists_of_menu_choice_models_add_the_log_offer_rate(world):
    model = make_model("ncf", factors=4, epochs=1, variety_strength=0.0).fit(world)
    catalog, dated = model.score(world.user_ids[:3]), model.score(world.user_ids[:3], as_of=LATER)
    rates = offer_rates_of(model.offer_groups_, model.offer_rates_, world.user_group, np.arange(3), np.arange(5))
    np.testing.assert_allclose(catalog - dated, np.log(rates), atol=1e-5)
    assert (catalog[:, E] - dated[:, E] < 0).all()


# ------------------------------------------------------------------------------ choice-aware content
def test_offered_share_spreads_each_choice_over_its_menu(world):
    share = offered_share(world, half_life_days=1e9).toarray()
    # user 1 chose one food from each of two menus of A-D (E was not offered on days 4 and 2)
    np.testing.assert_allclose(share[1], [0.5, 0.5, 0.5, 0.5, 0.0])
    # user 0: two foods from A-D on day 5, one from the five foods (E too) of day 3, one from A-D on day 1
    np.testing.assert_allclose(share[0], [2 / 4 + 1 / 5 + 1 / 4] * 4 + [1 / 5], rtol=1e-6)
    assert share.sum() == pytest.approx(world.counts.sum())


def test_choice_aware_profile_prefers_what_was_chosen_over_what_was_offered(world):
    model = make_model("content", offer_correction=1.0, history_weight=0.0, half_life_days=1e9).fit(world)
    scores = model.score([2], as_of=LATER)[0]          # user 1 always chose B out of A-D
    assert scores.argmax() == B
    assert scores[B] > scores[A] > scores[C_]          # A shares B's cuisine and maker, C nothing


# ------------------------------------------------------------------------------ hybrid repeat features
def test_take_rate_and_lifts_by_hand():
    """User 0 saw foods 0 and 1 on days 1 and 2 (two-food menus) and chose food 0 both times; on
    day 3 a three-food menu, and chose food 2."""
    foods = FoodAttributes(maker=np.array([0, 0, 1]), cuisine=np.array([0, 1, 1]),
                           price=np.array([8000.0, 10000.0, 12000.0]), spice=np.zeros(3),
                           tags=sp.csr_matrix((3, 1), dtype=np.float32), ingredient=np.array([0, 1, 0]))
    ex_food = np.array([0, 1, 0, 1, 0, 1, 2])
    ex_day = np.array([1, 1, 2, 2, 3, 3, 3])
    chosen = np.array([1, 0, 1, 0, 0, 0, 1], dtype=bool)
    history = History(user=np.array([0, 0, 0]), food=np.array([0, 0, 2]), day=np.array([1, 2, 3]),
                      group=np.zeros(3, dtype=np.int64), exposure_food=ex_food, exposure_day=ex_day,
                      exposure_chosen=chosen, exposure_user=np.zeros(7, dtype=np.int64),
                      exposure_set_size=np.array([2, 2, 2, 2, 3, 3, 3]))
    builder = ChoiceFeatureBuilder(history, foods, np.zeros(1, dtype=np.int64), sp.csr_matrix((1, 1)),
                                   typical_menu_size=2.0, half_life_days=1e9)
    X = builder.transform(np.zeros(3, dtype=np.int64), np.arange(3), np.full(3, 4), np.zeros(3),
                          {Feature.ALS_SCORE: np.zeros(3), Feature.CONTENT_SCORE: np.zeros(3)})
    col = {name: X[:, FEATURE_NAMES.index(name)] for name in FEATURE_NAMES}
    # take rate: (taken + 1 x 1/2) / (offered + 1)
    np.testing.assert_allclose(col[Feature.USER_FOOD_TAKE_RATE], [2.5 / 4, 0.5 / 4, 1.5 / 2], rtol=1e-6)
    # cuisine 0 (food 0): chosen 2, expected by chance 1/2 + 1/2 + 1/3; cuisine 1 (foods 1, 2):
    # chosen 1, expected 1/2 + 1/2 + 1/3 + 1/3; lift = (chosen + 1) / (expected + 1)
    lift0, lift1 = 3 / (4 / 3 + 1), 2 / (5 / 3 + 1)
    np.testing.assert_allclose(col[Feature.USER_CUISINE_LIFT], [lift0, lift1, lift1], rtol=1e-6)
    # ingredient 0 = foods 0 and 2: chosen 3, expected 1/2 + 1/2 + 1/3 + 1/3
    np.testing.assert_allclose(col[Feature.USER_INGREDIENT_LIFT][0], 4 / (5 / 3 + 1), rtol=1e-6)
    np.testing.assert_allclose(col[Feature.USER_FOOD_SHARE], [2 / 3, 0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(col[Feature.USER_INGREDIENT_SHARE], [1, 0, 1], rtol=1e-6)
    assert col[Feature.HISTORY_RANK].tolist() == [0.0, 1.0, 0.5]


def test_a_history_without_per_user_offers_gives_neutral_lifts():
    foods = FoodAttributes(maker=np.array([0, 1]), cuisine=np.array([0, 1]), price=np.array([1.0, 2.0]),
                           spice=np.zeros(2), tags=sp.csr_matrix((2, 1), dtype=np.float32))
    history = History(user=np.array([0]), food=np.array([0]), day=np.array([1]), group=np.zeros(1, dtype=np.int64),
                      exposure_food=np.array([0, 1]), exposure_day=np.array([1, 1]),
                      exposure_chosen=np.array([True, False]))
    builder = ChoiceFeatureBuilder(history, foods, np.zeros(1, dtype=np.int64), sp.csr_matrix((1, 1)))
    X = builder.transform(np.zeros(2, dtype=np.int64), np.arange(2), np.full(2, 5), np.zeros(2),
                          {Feature.ALS_SCORE: np.zeros(2), Feature.CONTENT_SCORE: np.zeros(2)})
    for name in (Feature.USER_CUISINE_LIFT, Feature.USER_MAKER_LIFT, Feature.USER_INGREDIENT_LIFT):
        np.testing.assert_allclose(X[:, FEATURE_NAMES.index(name)], 1.0)


# ------------------------------------------------------------------------------ sequential
def test_sequential_food_features_shape_the_food_embeddings(world):
    model = make_model("sequential", epochs=1, hidden=8, max_len=4).fit(world)
    net = model.net_
    vectors = net.item_vectors().detach().numpy()
    projected = net.feature_proj(net.item_features).detach().numpy()
    np.testing.assert_allclose(vectors[1:], net.item_emb.weight.detach().numpy()[1:] + projected, atol=1e-6)
    assert not vectors[0].any()                                        # padding stays zero
    ids_only = make_model("sequential", epochs=1, hidden=8, max_len=4, food_features=False).fit(world)
    assert ids_only.net_.feature_proj is None


def test_content_date_free_lists_weigh_by_offer_rate_for_users_with_orders_only(world):
    model = make_model("content", history_weight=0.0, offer_weight=0.5).fit(world)
    catalog, dated = model.score(world.user_ids), model.score(world.user_ids, as_of=LATER)
    rates = offer_rates_of(model.offer_groups_, model.offer_rates_, world.user_group, np.arange(3), np.arange(5))
    np.testing.assert_allclose(catalog[:3] - dated[:3], 0.5 * np.log(rates), atol=1e-9)
    # a cold user's survey profile is no choice from menus: the fallback's content score is unchanged
    cold = np.array([3])
    np.testing.assert_allclose(model._score(cold, np.arange(5), None), model._score(cold, np.arange(5), LATER))


# ------------------------------------------------------------------------------ the menu choice logit
CONSECUTIVE = {0: [(3, [A]), (2, [C_]), (1, [B])], 1: [(2, [B])]}
"""User 0 orders three days running (A 한식, C 일식, B 한식); user 1 once."""


def test_food_attribute_design_is_one_hot_per_attribute_and_standardised_log_price(world):
    design, owner = food_attribute_design(world, ("cuisine", "main_ingredient", "spiciness", "price"))
    # cuisine 1, 1, 3, 3, 4 and main ingredient 3001, 3002, 3001, 3003, 3002: three levels each;
    # every food has the same spiciness: no column
    np.testing.assert_array_equal(design[:, :3], np.eye(3)[[0, 0, 1, 1, 2]])
    np.testing.assert_array_equal(design[:, 3:6], np.eye(3)[[0, 1, 0, 2, 1]])
    price = np.log([8000.0, 9000.0, 10000.0, 11000.0, 12000.0])
    np.testing.assert_allclose(design[:, 6], (price - price.mean()) / price.std(), rtol=1e-5)
    assert owner.tolist() == [0, 0, 0, 1, 1, 1, 3]
    with pytest.raises(KeyError):
        food_attribute_design(world, ("colour",))


def test_menu_choices_read_habit_and_variety_from_the_days_before_by_hand():
    data = small_world(CONSECUTIVE)
    choices = menu_choices(data)
    cutoff_day = to_days(CUTOFF)[0]
    sets = {(int(u), int(cutoff_day - d)): row for row, (u, d) in enumerate(zip(choices.user, choices.day))}
    assert sorted(sets) == [(0, 1), (0, 2), (0, 3), (1, 2)]

    def column(row, food):
        return int(np.flatnonzero(choices.foods[row] == food)[0])

    day3, day2, day1 = sets[(0, 3)], sets[(0, 2)], sets[(0, 1)]
    assert (choices.foods[day3] >= 0).sum() == 5 and (choices.foods[day2] >= 0).sum() == 4   # E on day 3
    assert choices.foods[day2, choices.chosen[day2]] == C_ and choices.foods[day1, choices.chosen[day1]] == B
    assert not choices.habit[day3].any() and not choices.variety[day3].any()     # nothing before
    # day 2: A yesterday (한식, as B)
    flags = {f: choices.variety[day2, column(day2, f)].tolist() for f in (A, B, C_, D)}
    assert flags == {A: [1, 0, 1], B: [0, 0, 1], C_: [0, 0, 0], D: [0, 0, 0]}
    # day 1: C yesterday (일식, as D), A two service days before; A and C eaten once each
    flags = {f: choices.variety[day1, column(day1, f)].tolist() for f in (A, B, C_, D)}
    assert flags == {A: [0, 1, 0], B: [0, 0, 0], C_: [1, 0, 1], D: [0, 0, 1]}
    habit = {f: choices.habit[day1, column(day1, f)] for f in (A, B, C_, D)}
    np.testing.assert_allclose([habit[A], habit[B], habit[C_], habit[D]], [np.log(2), 0, np.log(2), 0])
    # a day with two foods chosen keeps one of them as the choice and drops the other from the set
    two = menu_choices(small_world({0: [(5, [A, C_])]}))
    kept = two.foods[0][two.foods[0] >= 0]
    assert len(kept) == 3 and kept[two.chosen[0]] in (A, C_) and D in kept and B in kept


def test_menu_choices_leave_out_the_users_allergens(world):
    allergic = dataclasses.replace(
        world, food_allergens=allergen_matrix(pd.Series(["", "", "", "8001", ""])),
        user_allergens=allergen_matrix(pd.Series(["", "8001", "", ""])))
    choices = menu_choices(allergic)
    for row, user in enumerate(choices.user):
        assert (D in choices.foods[row]) == (user != 1)          # user index 1 never had D as an option
    assert len(choices.user) == len(menu_choices(world).user)


def test_choice_logit_recovers_each_users_taste_and_shrinks_a_noise_column():
    """Half the users like cuisine 0, half cuisine 1 (utility +-1.5); a third column is noise."""
    rng = np.random.default_rng(3)
    n_users, n_menus, n_foods = 40, 30, 8
    cuisine = np.repeat([0, 1], 4)
    design = np.column_stack([cuisine == 0, cuisine == 1, rng.normal(size=n_foods)]).astype(np.float32)
    likes = np.arange(n_users) % 2
    user = np.repeat(np.arange(n_users), n_menus)
    foods = np.stack([np.r_[rng.choice(4, 2, replace=False), 4 + rng.choice(4, 2, replace=False)]
                      for _ in user])
    utility = np.where(cuisine[foods] == likes[user][:, None], 1.5, -1.5)
    chosen = np.argmax(utility + rng.gumbel(size=utility.shape), axis=1)
    choices = MenuChoices(user=user, day=np.zeros(len(user), dtype=np.int64), foods=foods, chosen=chosen,
                          habit=np.zeros(foods.shape, dtype=np.float32),
                          variety=np.zeros((*foods.shape, 3), dtype=np.float32))
    logit = fit_choice_logit(choices, design, n_users, l2=1.0)
    taste = logit.coef[:, 0] - logit.coef[:, 1]
    assert np.mean((taste > 0) == (likes == 0)) >= 0.95
    spread = logit.coef.std(axis=0)
    assert spread[2] < 0.2 * min(spread[0], spread[1])          # users do not differ along the noise
    assert logit.bias.shape == (n_foods,) and logit.habit.shape == (n_users,)
    # with many more foods than menu cells the match is computed per menu position: same fit
    wide = fit_choice_logit(choices, np.vstack([design, rng.normal(size=(400, 3)).astype(np.float32)]),
                            n_users, l2=1.0)
    np.testing.assert_allclose(wide.coef, logit.coef, atol=1e-3)
    np.testing.assert_allclose(wide.bias[:n_foods], logit.bias, atol=1e-3)


SEQ_SMALL = dict(epochs=1, hidden=8, max_len=4)


def test_sequential_pools_its_network_with_the_choice_logit(world):
    model = make_model("sequential", choice_weight=3.0, **SEQ_SMALL).fit(world)
    assert model.choice_coef_.shape == (world.n_users, 7)
    u, i = np.arange(3), np.arange(5)
    for day in (CUTOFF, LATER, None):
        pooled = model._score(u, i, day)
        utility = model.choice_utility(u, i, day)
        model.set_params(choice_weight=0.0)
        network = model._score(u, i, day)
        model.set_params(choice_weight=3.0)
        # a date-free list adds log P(on the user's menu) to the pooled log P(picked from it)
        on_menu = 0.0 if day else np.log(offer_rates_of(model.offer_groups_, model.offer_rates_,
                                                         world.user_group, u, i))
        np.testing.assert_allclose(pooled, (network - on_menu + 3.0 * utility) / 4.0 + on_menu, rtol=1e-9)
    # user index 1 chose B from every menu: B is the choice logit's pick for them
    assert model.choice_utility(np.array([1]), i, LATER)[0].argmax() == B
    # user 0 had A (한식) on the last service day before the cutoff: the variety terms apply that day only
    today, later = model.choice_utility(np.array([0]), i, CUTOFF)[0], model.choice_utility(np.array([0]), i, LATER)[0]
    np.testing.assert_allclose(today - later, model.choice_variety_[0] * (i == A)
                               + model.choice_variety_[2] * (world.foods[C.CUISINE_CODE].to_numpy() == 1), atol=1e-6)


def test_sequential_choice_logit_survives_save_and_load(world, tmp_path):
    model = make_model("sequential", **SEQ_SMALL).fit(world)
    back = type(model).load(model.save(tmp_path / "sequential"))
    for day in (None, CUTOFF, LATER):
        np.testing.assert_array_equal(back.score(world.user_ids, as_of=day), model.score(world.user_ids, as_of=day))


def test_sequential_without_food_attributes_or_choice_weight_has_no_choice_logit(world):
    plain_foods = world.foods.assign(**{C.CUISINE_CODE: 1, C.MAIN_INGREDIENT_CODE: 3001, C.PRICE: 8000})
    for data, params in [(dataclasses.replace(world, foods=plain_foods), {}), (world, {"choice_weight": 0.0})]:
        model = make_model("sequential", **SEQ_SMALL, **params).fit(data)
        assert not hasattr(model, "choice_coef_")
        assert not model.choice_utility(np.arange(3), np.arange(5), LATER).any()


def _menu_choices_before(data: TrainingData, max_sets: int | None, seed: int = 0) -> MenuChoices:
    """menu_choices as it was before it filtered only the newest days (the reference)."""
    exposures = data.exposures
    sets = training_choice_sets(exposures, exposures[C.SERVICE_DATE].min(), max_sets=None,
                                rng=np.random.default_rng(seed))
    allergic = np.asarray((data.user_allergens[sets[USER_IDX].to_numpy()]
                           .multiply(data.food_allergens[sets[ITEM_IDX].to_numpy()])).sum(axis=1)).ravel() > 0
    sets = sets[~allergic | sets[CHOSEN].to_numpy()]
    sets = sets[_set_sizes(sets[SET_ID].to_numpy()) > 1]
    set_id = np.unique(sets[SET_ID].to_numpy(), return_inverse=True)[1]
    day_of_set = np.zeros(int(set_id.max(initial=-1)) + 1, dtype=np.int64)
    day_of_set[set_id] = to_days(sets[C.SERVICE_DATE])
    if max_sets is not None and len(day_of_set) > max_sets:
        newest = np.sort(np.argsort(-day_of_set, kind="stable")[:max_sets])
        keep = np.isin(set_id, newest)
        sets, set_id = sets[keep], np.searchsorted(newest, set_id[keep])
        day_of_set = day_of_set[newest]
    position = pd.Series(set_id).groupby(set_id).cumcount().to_numpy()
    foods = np.full((len(day_of_set), int(position.max(initial=0)) + 1), -1, dtype=np.int64)
    foods[set_id, position] = sets[ITEM_IDX].to_numpy()
    user = np.zeros(len(day_of_set), dtype=np.int64)
    user[set_id] = sets[USER_IDX].to_numpy()
    chosen = np.zeros(len(day_of_set), dtype=np.int64)
    picked = sets[CHOSEN].to_numpy(dtype=bool)
    chosen[set_id[picked]] = position[picked]
    return MenuChoices(user=user, day=day_of_set, foods=foods, chosen=chosen, habit=np.zeros(0),
                       variety=np.zeros(0))


@pytest.fixture(scope="module")
def tiny_training_data(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    data = build_training_data(engine)
    engine.dispose()
    return data


@pytest.mark.parametrize("max_sets", [None, 1, 37, 500, 10**9])
@pytest.mark.parametrize("allergy_share", [0.0, 0.6])
def test_menu_choices_from_the_newest_days_equal_filtering_every_menu(tiny_training_data, max_sets,
                                                                      allergy_share):
    """Only the newest days' rows are filtered now; the sets, their order, foods and chosen food are
    the ones the old all-rows construction gave (with many allergic users the window must widen)."""
    data = tiny_training_data
    if allergy_share:
        rng = np.random.default_rng(1)
        n_foods, n_users = data.n_foods, data.n_users
        data = dataclasses.replace(
            data, food_allergens=sp.csr_matrix((rng.random((n_foods, 1)) < 0.9).astype(np.float32)),
            user_allergens=sp.csr_matrix((rng.random((n_users, 1)) < allergy_share).astype(np.float32)))
    new, old = menu_choices(data, max_sets=max_sets, seed=5), _menu_choices_before(data, max_sets, seed=5)
    assert len(old.user) >= (1 if max_sets is None else min(max_sets, 30))
    np.testing.assert_array_equal(new.user, old.user)
    np.testing.assert_array_equal(new.day, old.day)
    np.testing.assert_array_equal(new.foods, old.foods)
    np.testing.assert_array_equal(new.chosen, old.chosen)


def test_one_positive_per_set_holds_for_sets_numbered_out_of_row_order():
    """Sets numbered by pandas (a frame out of meal order) need not end with the highest number:
    every set with a chosen row has exactly one kept positive, drawn among its chosen rows."""
    from kurrant_core.models.choice_features import _one_positive_per_set
    sets = np.array([2, 0, 2, 1, 0, 2, 1])
    chosen = np.array([True, False, True, False, True, False, False])
    keep, has = _one_positive_per_set(sets, chosen, np.random.default_rng(0))
    assert has.tolist() == [True, False, True]
    assert np.bincount(sets[keep], minlength=3).tolist() == [1, 0, 1]
    assert (chosen | ~keep).all()
