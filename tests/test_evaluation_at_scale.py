"""The evaluation's faster computations give the figures of the plain ones they replaced."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kurrant_core import columns as C, metrics as M
from kurrant_core.data import ITEM_IDX, build_training_data
from kurrant_core.db import make_engine
from kurrant_core.evaluation.beyond import user_category_mix
from kurrant_core.metrics import smoothed_kl
from kurrant_core.models import make_model
from kurrant_core.models.base import ColdStartFallback


def calibration_error_one_list_at_a_time(recs, mix, food_category) -> float:
    """The loop the vectorised ``metrics.calibration_error`` replaced."""
    values = []
    for _, rows in recs.groupby([C.USER_ID, C.SERVICE_DATE], dropna=False, sort=False):
        user = rows[C.USER_ID].iloc[0]
        if user not in mix.index:
            continue
        p = mix.loc[user]
        q = food_category.loc[rows[C.FOOD_ID].to_numpy()].value_counts(normalize=True)
        cats = p.index.union(q.index)
        values.append(smoothed_kl(p.reindex(cats, fill_value=0.0).to_numpy(),
                                  q.reindex(cats, fill_value=0.0).to_numpy()))
    return float(np.mean(values)) if values else float("nan")


def test_calibration_error_by_hand():
    # user 1's mix is 3/4 cuisine 1, 1/4 cuisine 2; the list is half and half:
    # KL = 3/4 ln(0.75 / (0.99 * 0.5 + 0.01 * 0.75)) + 1/4 ln(0.25 / (0.99 * 0.5 + 0.01 * 0.25))
    mix = pd.DataFrame({1: [0.75], 2: [0.25]}, index=pd.Index([1], name=C.USER_ID))
    recs = pd.DataFrame({C.USER_ID: [1, 1, 9], C.FOOD_ID: [10, 20, 10], C.RANK: [1, 2, 1]})
    want = 0.75 * np.log(0.75 / 0.5025) + 0.25 * np.log(0.25 / 0.4975)
    assert M.calibration_error(recs, mix, pd.Series({10: 1, 20: 2})) == pytest.approx(want)   # user 9 has no mix


def test_calibration_error_equals_the_per_list_loop_on_random_lists():
    rng = np.random.default_rng(3)
    foods = pd.Series(rng.integers(0, 9, 60), index=np.arange(100, 160))
    mix = pd.DataFrame(rng.dirichlet(np.ones(9) * 0.5, size=40), index=pd.Index(np.arange(40), name=C.USER_ID))
    mix = mix.loc[:, mix.columns != 4]                    # a cuisine nobody eats, one only lists show
    mix = mix.div(mix.sum(axis=1), axis=0)
    rows = []
    for user in range(50):                                # users 40-49 have no mix: skipped
        for day in (None, pd.Timestamp("2026-10-05")):
            for rank, food in enumerate(rng.choice(foods.index, size=int(rng.integers(1, 11)), replace=False), 1):
                rows.append({C.USER_ID: user, C.SERVICE_DATE: day, C.FOOD_ID: food, C.RANK: rank})
    recs = pd.DataFrame(rows)
    got = M.calibration_error(recs, mix, foods)
    assert got == pytest.approx(calibration_error_one_list_at_a_time(recs, mix, foods), rel=1e-12)
    assert got > 0


def test_user_category_mix_equals_the_crosstab_of_the_orders(tiny_sqlite_url):
    data = build_training_data(make_engine(tiny_sqlite_url))
    category = pd.Series(data.food_category[data.orders[ITEM_IDX].to_numpy()], index=data.orders.index)
    want = pd.crosstab(data.orders[C.USER_ID], category, normalize="index")
    got = user_category_mix(data)
    pd.testing.assert_frame_equal(got, want, check_names=False, check_exact=False, rtol=1e-12)
    assert len(got) == data.orders[C.USER_ID].nunique()


def test_models_fitted_on_the_same_data_share_one_cold_start_fallback(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    data = build_training_data(engine)
    first, second = make_model("popularity").fit(data), make_model("content").fit(data)
    assert first.fallback_ is second.fallback_ is ColdStartFallback.of(data)
    other = build_training_data(engine)
    assert ColdStartFallback.of(other) is not first.fallback_          # another data set, its own
    cold = np.flatnonzero(data.cold)
    assert len(cold) > 0
    items = np.arange(data.n_foods)
    np.testing.assert_array_equal(first.fallback_.score(cold, items), ColdStartFallback(data).score(cold, items))


def _per_user(rng, n_users: int, keys, shift: float = 0.0, weight: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({key: np.clip(rng.random(n_users) + shift, 0, 1) for key in keys},
                         index=pd.Index(np.arange(n_users), name=C.USER_ID))
    if weight:
        frame[weight] = rng.integers(1, 5, n_users)
    return frame


def test_intervals_for_one_model_equal_those_of_the_full_comparison():
    from kurrant_core.evaluation.baselines import compare_protocol
    rng = np.random.default_rng(1)
    keys = ["mrr", "hr@1"]
    per_user = {name: _per_user(rng, 80, keys, shift, "n_events")
                for name, shift in (("popularity", -0.2), ("history", 0.0), ("content", 0.1))}
    full, _ = compare_protocol(per_user, keys, "n_events")
    one, _ = compare_protocol(per_user, keys, "n_events", only=["content"])
    assert one["content"] == full["content"] and set(one["content"]) == set(keys)
    assert full["history"] and not one["history"]                  # not asked: not computed
