"""The ``history`` baseline does what its docstring says: own decayed frequency first, the last
service days' foods pushed down, group popularity for the rest."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kurrant_core import columns as C
from kurrant_core.data import build_training_data
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.models import make_model


@pytest.fixture(scope="module")
def data(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    yield build_training_data(engine)
    engine.dispose()


def busy_user(data) -> int:
    """The user index with the most distinct foods."""
    return int(np.argmax(np.diff((data.counts > 0).tocsr().indptr)))


def test_own_decayed_frequency_orders_the_foods_the_user_had(data):
    u = busy_user(data)
    model = make_model("history", variety_strength=0.0, half_life_days=30.0).fit(data)
    scores = model._score(np.array([u]), np.arange(data.n_foods), None)[0]
    weights = data.user_food_matrix(data.decay_weights(30.0))[u].toarray()[0]
    had = weights > 0
    assert scores[had].min() > scores[~had].max()            # every food they had comes first
    np.testing.assert_allclose(scores[had], 1.0 + weights[had] / weights.sum())
    assert 0.0 <= scores[~had].min() and scores[~had].max() <= 1.0   # padded by group popularity


def test_variety_rule_pushes_the_last_service_days_food_down(data):
    u = busy_user(data)
    rows = data.orders[data.orders["u"] == u]
    last_day = rows[C.SERVICE_DATE].max()
    last_foods = rows.loc[rows[C.SERVICE_DATE] == last_day, "i"].unique()
    next_day = (last_day + pd.Timedelta(days=1)).date()
    days = np.unique(data.menus[C.SERVICE_DATE].to_numpy().astype("datetime64[D]"))
    assert np.datetime64(last_day.date(), "D") in days
    keep = make_model("history", variety_strength=0.0).fit(data)
    vary = make_model("history", variety_days=1, variety_strength=1.0).fit(data)
    everything = np.arange(data.n_foods)
    before = keep._score(np.array([u]), everything, next_day)[0]
    after = vary._score(np.array([u]), everything, next_day)[0]
    np.testing.assert_allclose(after[last_foods], before[last_foods] - 2.0)
    others = np.setdiff1d(everything, last_foods)
    np.testing.assert_allclose(after[others], before[others])
    assert after[last_foods].max() < after[others].min()        # strength 1: below everything
    # a week later the last service day is no longer among the last one: no penalty
    week_later = (last_day + pd.Timedelta(days=8)).date()
    later = vary._score(np.array([u]), everything, week_later)[0]
    if not np.any((days > np.datetime64(last_day.date(), "D"))
                  & (days < np.datetime64(week_later, "D"))):
        pytest.skip("no service day after the user's last order in the tiny world")
    np.testing.assert_allclose(later, before)


def test_bad_parameters_say_what_is_allowed(data):
    with pytest.raises(KurrantError, match="variety_strength"):
        make_model("history", variety_strength=1.5).fit(data)


def test_explanations_name_the_habit(data):
    u = busy_user(data)
    model = make_model("history").fit(data)
    eaten = data.counts[u].indices[:1]
    never = np.setdiff1d(np.arange(data.n_foods), data.counts[u].indices)[:1]
    lines = model.explain(int(data.user_ids[u]), data.food_ids[np.concatenate([eaten, never])])
    assert "you ordered it" in lines[0] and "never ordered" in lines[1]
