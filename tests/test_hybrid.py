"""The hybrid recommender: its choice-model features (by hand, no leakage) and its ranking quality."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kurrant_core import columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX
from kurrant_core.db import make_engine
from kurrant_core.evaluation.protocols import daily_menu_accuracy, rank_daily_menus
from kurrant_core.evaluation.split import default_split, split_data
from kurrant_core.models import make_model
from kurrant_core.models.choice_features import (
    FEATURE_NAMES,
    NEVER_DAYS,
    SET_ID,
    ChoiceFeatureBuilder,
    DatedEvents,
    Feature,
    FoodAttributes,
    History,
    builder_from_training_data,
    cut_training_data,
    menu_relative_features,
    survey_overlap,
    to_days,
    training_choice_sets,
)
from kurrant_core.models.hybrid import HybridRecommender

D0 = int(to_days(date(2026, 3, 2))[0])   # day 0 of the synthetic history


def feature(matrix: np.ndarray, name: str) -> np.ndarray:
    return matrix[:, FEATURE_NAMES.index(name)]


def synthetic_builder(orders: list[tuple[int, int, int]], exposures=(), *, half_life: float = 30.0,
                      price_std_floor: float = 500.0, favorites=None) -> ChoiceFeatureBuilder:
    """Three foods, two makers, two cuisines, two users of group 0; ``orders`` = (user, food, day)."""
    foods = FoodAttributes(maker=np.array([0, 0, 1]), cuisine=np.array([0, 1, 1]),
                           price=np.array([8000.0, 10000.0, 12000.0]), spice=np.array([0.0, 2.0, 3.0]),
                           tags=sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=np.float32)))
    u, i, d = (np.array(x, dtype=np.int64) for x in zip(*orders))
    ex = np.array(list(exposures), dtype=np.int64).reshape(-1, 3)     # (food, day, chosen)
    history = History(user=u, food=i, day=D0 + d, group=np.zeros(len(u), dtype=np.int64),
                      exposure_food=ex[:, 0], exposure_day=D0 + ex[:, 1], exposure_chosen=ex[:, 2].astype(bool))
    fav = favorites if favorites is not None else sp.csr_matrix((2, 3), dtype=np.float32)
    return ChoiceFeatureBuilder(history, foods, np.zeros(2, dtype=np.int64), fav, typical_menu_size=2,
                                half_life_days=half_life, price_std_floor=price_std_floor)


def features_for(builder, user: int, day: int, foods=(0, 1, 2), scores=None) -> np.ndarray:
    n = len(foods)
    scores = scores or {Feature.ALS_SCORE: np.zeros(n), Feature.CONTENT_SCORE: np.zeros(n)}
    return builder.transform(np.full(n, user), np.array(foods), np.full(n, D0 + day), np.zeros(n), scores)


# user 0 eats food 0 on day 10, food 1 on day 12, food 0 on day 13; user 1 eats food 2 on day 11
ORDERS = [(0, 0, 10), (0, 1, 12), (0, 0, 13), (1, 2, 11)]


# ------------------------------------------------------------------------------ the event index
def test_dated_events_count_sum_and_last_only_look_strictly_before():
    ev = DatedEvents(keys=np.array([5, 5, 5, 7]), days=np.array([10, 12, 12, 3]),
                     weights={"w": np.array([1.0, 2.0, 4.0, 8.0])})
    keys, days = np.array([5, 5, 5, 7, 6]), np.array([10, 12, 13, 100, 50])
    assert ev.count_before(keys, days).tolist() == [0, 1, 3, 1, 0]
    assert ev.sum_before(keys, days, "w").tolist() == [0, 1, 7, 8, 0]
    assert ev.days_since_last(keys, days).tolist() == [NEVER_DAYS, 2, 1, 97, NEVER_DAYS]
    # half-life 2 days, ranked on day 14: 1 * 0.5**(4/2) + (2 + 4) * 0.5**(2/2)
    assert ev.sum_before(np.array([5]), np.array([14]), "w", half_life=2.0)[0] == pytest.approx(0.25 + 3.0)


def test_dated_events_query_before_first_event_counts_nothing():
    ev = DatedEvents(keys=np.array([1, 1]), days=np.array([20, 21]))
    assert ev.count_before(np.array([1, 1]), np.array([5, 20])).tolist() == [0, 0]


# ------------------------------------------------------------------------------ features by hand
def test_recency_features_by_hand():
    X = features_for(synthetic_builder(ORDERS), user=0, day=14)
    assert feature(X, Feature.DAYS_SINCE_FOOD).tolist() == [1, 2, NEVER_DAYS]
    assert feature(X, Feature.ATE_YESTERDAY).tolist() == [1, 0, 0]
    assert feature(X, Feature.DAYS_SINCE_MAKER).tolist() == [1, 1, NEVER_DAYS]
    assert feature(X, Feature.DAYS_SINCE_CUISINE).tolist() == [1, 2, 2]
    assert feature(X, Feature.LAST_MEAL_SAME_MAKER).tolist() == [1, 1, 0]   # food 1 shares maker 0 with day 13
    assert feature(X, Feature.LAST_MEAL_SAME_CUISINE).tolist() == [1, 0, 0]
    assert feature(X, Feature.USER_FOOD_COUNT).tolist() == [2, 1, 0]
    assert feature(X, Feature.USER_N_ORDERS).tolist() == [3, 3, 3]
    assert feature(X, Feature.USER_MAKER_SHARE) == pytest.approx([1, 1, 0])
    assert feature(X, Feature.USER_CUISINE_SHARE) == pytest.approx([2 / 3, 1 / 3, 1 / 3])


def test_price_z_and_spice_diff_by_hand():
    X = features_for(synthetic_builder(ORDERS), user=0, day=14)
    prices = np.array([8000.0, 10000.0, 8000.0])            # what user 0 paid, day 10, 12, 13
    mean, std = prices.mean(), prices.std()                  # population std, 942.8 > the 500 floor
    assert feature(X, Feature.PRICE_Z) == pytest.approx((np.array([8000, 10000, 12000]) - mean) / std, rel=1e-5)
    assert feature(X, Feature.SPICE_DIFF) == pytest.approx(np.array([0.0, 2.0, 3.0]) - 2.0 / 3.0, rel=1e-5)


def test_price_std_is_floored_and_a_user_without_history_is_neutral():
    builder = synthetic_builder(ORDERS)
    one_order = features_for(builder, user=1, day=12)        # user 1 has only food 2 (12000 won)
    expected = [(8000 - 12000) / 500, (10000 - 12000) / 500, 0]        # std 0, floored at 500
    assert feature(one_order, Feature.PRICE_Z) == pytest.approx(expected)
    no_history = features_for(builder, user=1, day=11)
    assert feature(no_history, Feature.PRICE_Z).tolist() == [0, 0, 0]
    assert feature(no_history, Feature.DAYS_SINCE_FOOD).tolist() == [NEVER_DAYS] * 3
    assert feature(no_history, Feature.LAST_MEAL_SAME_CUISINE).tolist() == [0, 0, 0]


def test_group_popularity_is_a_time_decayed_share_of_the_group():
    X = features_for(synthetic_builder(ORDERS, half_life=1.0), user=1, day=14)
    w = {d: 0.5 ** (14 - d) for d in (10, 11, 12, 13)}
    total = sum(w.values())
    assert feature(X, Feature.GROUP_POPULARITY) == pytest.approx(
        [(w[10] + w[13]) / total, w[12] / total, w[11] / total], rel=1e-5)


def test_take_rate_is_smoothed_toward_one_over_menu_size():
    # before day 14, foods 0 and 1 were each offered twice and chosen once; food 2 only on day 14 itself
    exposures = [(0, 10, 1), (1, 10, 0), (0, 12, 0), (1, 12, 1), (0, 14, 1), (2, 14, 0)]   # (food, day, chosen)
    X = features_for(synthetic_builder(ORDERS, exposures), user=0, day=14)
    prior = 5 * (1 / 2)                                       # take_prior 5, typical menu size 2
    expected = [(1 + prior) / (2 + 5), (1 + prior) / (2 + 5), prior / 5]
    assert feature(X, Feature.TAKE_RATE) == pytest.approx(expected, rel=1e-5)


def test_survey_match_counts_shared_tags():
    fav = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float32))
    assert survey_overlap(fav, sp.csr_matrix(np.eye(3)[[0, 2, 2]]), np.array([0, 0, 1]),
                          np.array([0, 1, 0])).tolist() == [1, 0, 0]
    X = features_for(synthetic_builder(ORDERS, favorites=fav), user=0, day=14)
    assert feature(X, Feature.SURVEY_MATCH).tolist() == [1, 1, 1]   # food tags [1,0,1], [0,1,0], [0,1,1]


def test_menu_relative_ranks_within_each_set():
    size, out = menu_relative_features(np.array([0, 0, 0, 1, 1]), {"r": np.array([0.1, 0.9, 0.5, 3.0, 3.0])})
    assert size.tolist() == [3, 3, 3, 2, 2]
    assert out["r"].tolist() == [1.0, 0.0, 0.5, 0.5, 0.5]    # ties share the mean rank


# ------------------------------------------------------------------------------ no leakage
def test_features_never_read_the_day_being_ranked_or_later():
    builder = synthetic_builder(ORDERS)
    on_day_13 = features_for(builder, user=0, day=13)
    # leakage would see the day-13 order of food 0: days since 0 and two orders instead of one
    assert feature(on_day_13, Feature.DAYS_SINCE_FOOD).tolist() == [3, 1, NEVER_DAYS]
    assert feature(on_day_13, Feature.USER_FOOD_COUNT).tolist() == [1, 1, 0]
    assert feature(on_day_13, Feature.ATE_YESTERDAY).tolist() == [0, 1, 0]   # food 1 on day 12, not food 0


def test_features_equal_those_built_from_the_past_alone():
    """Random history: features of every row dated d match a builder that never saw day >= d."""
    rng = np.random.default_rng(3)
    orders = [(int(rng.integers(2)), int(rng.integers(3)), int(d)) for d in rng.integers(0, 30, 60)]
    exposures = [(int(rng.integers(3)), int(rng.integers(0, 30)), int(rng.integers(2))) for _ in range(40)]
    full = synthetic_builder(orders, exposures)
    for day in (5, 17, 29):
        past = synthetic_builder([o for o in orders if o[2] < day] or [(0, 0, 99)],
                                 [e for e in exposures if e[1] < day] or [(0, 99, 0)])
        for user in (0, 1):
            np.testing.assert_allclose(features_for(full, user, day), features_for(past, user, day), rtol=1e-6)


# ------------------------------------------------------------------------------ training sets
def test_training_sets_have_exactly_one_positive_and_respect_the_window():
    day = pd.Timestamp("2026-03-02")
    rows = [(0, f, day + pd.Timedelta(days=d), ch) for d, f, ch in [
        (0, 0, True), (0, 1, False),                         # before the window
        (7, 0, True), (7, 1, True), (7, 2, False),           # two chosen: one positive kept
        (8, 0, False), (8, 1, False),                        # nothing chosen: dropped
        (9, 0, False), (9, 2, True)]]
    ex = pd.DataFrame(rows, columns=[USER_IDX, ITEM_IDX, C.SERVICE_DATE, CHOSEN])
    ex[C.DINING_TYPE] = 2
    out = training_choice_sets(ex, (day + pd.Timedelta(days=5)).date(), max_sets=None,
                               rng=np.random.default_rng(0))
    per_set = out.groupby(SET_ID)[CHOSEN].agg(["sum", "size"])
    assert per_set["sum"].tolist() == [1, 1]
    assert per_set["size"].tolist() == [2, 2]                # day 7 lost its second chosen food
    assert out[C.SERVICE_DATE].min() >= day + pd.Timedelta(days=5)
    capped = training_choice_sets(ex, day.date(), max_sets=2, rng=np.random.default_rng(0))
    assert capped[SET_ID].nunique() == 2
    assert capped.groupby(SET_ID)[CHOSEN].sum().eq(1).all()


# ------------------------------------------------------------------------------ on the tiny world
HORIZON_DAYS = 10


@pytest.fixture(scope="module")
def tiny_split(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    data, test = split_data(engine, default_split(engine, HORIZON_DAYS))
    engine.dispose()
    return data, test


@pytest.fixture(scope="module")
def hybrid(tiny_split) -> HybridRecommender:
    return make_model("hybrid", max_iter=60).fit(tiny_split[0])


def test_hybrid_picks_the_chosen_food_far_better_than_random_and_popularity(tiny_split, hybrid):
    data, test = tiny_split
    ours = daily_menu_accuracy(rank_daily_menus(hybrid, data, test))
    popular = daily_menu_accuracy(rank_daily_menus(make_model("popularity").fit(data), data, test))
    assert ours["n_events"] > 100
    assert ours["hr@1"] > 1.5 * ours["random_hr@1"]
    assert ours["mrr"] > ours["random_mrr"] + 0.1
    assert ours["mrr"] > popular["mrr"]


def test_choice_model_trains_on_the_window_and_inner_models_on_what_came_before(tiny_split, hybrid):
    data, _ = tiny_split
    start = date.fromisoformat(hybrid.window_start_)
    first = data.orders[C.SERVICE_DATE].min().date()
    assert first + (data.cutoff - first) / 2 <= start < data.cutoff      # half the history stays before
    early = cut_training_data(data, start)
    assert early.orders[C.SERVICE_DATE].max() < pd.Timestamp(start)
    assert early.exposures[C.SERVICE_DATE].max() < pd.Timestamp(start)
    assert len(early.orders) < len(data.orders) and early.cutoff == start
    sets = training_choice_sets(data.exposures, start, max_sets=None, rng=np.random.default_rng(0))
    assert hybrid.n_choice_sets_ == sets[SET_ID].nunique()
    assert sets.groupby(SET_ID)[CHOSEN].sum().eq(1).all()


def test_tiny_world_features_match_a_builder_that_never_saw_the_day(tiny_split):
    """Real data: the features of a day's menus equal those built from the orders before it."""
    data, _ = tiny_split
    day = data.exposures[C.SERVICE_DATE].drop_duplicates().sort_values().iloc[-5]
    rows = data.exposures[data.exposures[C.SERVICE_DATE] == day]
    u, i = rows[USER_IDX].to_numpy(), rows[ITEM_IDX].to_numpy()
    n = len(rows)
    scores = {Feature.ALS_SCORE: np.zeros(n), Feature.CONTENT_SCORE: np.zeros(n)}
    days, sets = np.full(n, to_days(day)[0]), u
    full = builder_from_training_data(data).transform(u, i, days, sets, scores)
    past = builder_from_training_data(cut_training_data(data, day.date())).transform(u, i, days, sets, scores)
    np.testing.assert_allclose(full, past, rtol=1e-6)
    assert feature(full, Feature.USER_N_ORDERS).max() > 0                     # the check had history to read


def test_explain_gives_up_to_three_reasons_per_food(tiny_split, hybrid):
    data, _ = tiny_split
    user = int(data.user_ids[~data.cold][0])
    foods = hybrid.recommend([user], k=4)[C.FOOD_ID].tolist()
    lines = hybrid.explain(user, foods)
    assert len(lines) == len(foods)
    assert all(line and len(line.split(" · ")) <= 3 for line in lines)


def test_mean_rank_equals_pandas_percentile_ranks_with_ties_and_missing_scores():
    from kurrant_core.models.hybrid import _mean_rank
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, (40, 25)).astype(float)            # many ties
    b = rng.normal(size=(40, 25))
    a[rng.random(a.shape) < 0.1] = np.nan
    a[5] = np.nan                                              # a row with no score at all
    expected = np.nan_to_num(np.mean([pd.DataFrame(m).rank(axis=1, pct=True).to_numpy() for m in (a, b)], axis=0))
    np.testing.assert_array_equal(_mean_rank({"x": a, "y": b}), expected)
    assert _mean_rank({"x": np.array([[1.0, 3.0, 3.0, 2.0]])}).tolist() == [[0.25, 0.875, 0.875, 0.5]]


def test_dated_events_bounds_equal_a_plain_search_of_every_row():
    """``_bounds`` searches the rows in sorted order; the positions are those of each row alone."""
    from kurrant_core.models.choice_features import DatedEvents
    rng = np.random.default_rng(5)
    events = DatedEvents(rng.integers(0, 50, 3_000), rng.integers(100, 400, 3_000))
    keys, days = rng.integers(-2, 55, 2_000), rng.integers(90, 420, 2_000)
    start, stop = events._bounds(keys, days)
    offset = np.clip(days - events.day0_, 0, events.span_ - 1)
    np.testing.assert_array_equal(start, [np.searchsorted(events.combined_, k * events.span_) for k in keys])
    np.testing.assert_array_equal(stop, [np.searchsorted(events.combined_, k * events.span_ + o)
                                         for k, o in zip(keys, offset)])
    assert (stop >= start).all() and (stop > start).any()


def test_dated_events_reuse_the_last_positions_only_for_the_very_same_query_arrays():
    from kurrant_core.models.choice_features import DatedEvents
    rng = np.random.default_rng(7)
    events = DatedEvents(rng.integers(0, 20, 500), rng.integers(0, 60, 500), {"w": rng.random(500)})
    keys, days = rng.integers(0, 20, 300), rng.integers(0, 70, 300)
    first = events._bounds(keys, days)
    assert events._bounds(keys, days)[0] is first[0]                  # the same arrays: reused
    other_days = days.copy()
    other_days[0] += 5                                                  # another query: searched anew
    again = events._bounds(keys, other_days)
    assert again[0] is not first[0]
    fresh = DatedEvents(rng.integers(0, 1, 1), rng.integers(0, 1, 1))  # no cache shared between objects
    assert fresh._last_bounds is None
    np.testing.assert_array_equal(events.sum_before(keys, days, "w"),
                                  DatedEvents(events.combined_ // events.span_, events.days_,
                                              {"w": events.weights_["w"]}).sum_before(keys.copy(), days.copy(), "w"))
