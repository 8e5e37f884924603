"""Every model learns something: on held-out days it ranks the food a user chose from their
group's menu higher than a random ranking would (mean reciprocal rank above random's)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.data import ITEM_IDX, USER_IDX, TrainingData, build_training_data
from kurrant_core.db import make_engine
from kurrant_core.models import MODEL_NAMES, make_model, model_available

HOLDOUT_DAYS = 14
MENU_SIZE = "menu_size"
QUALITY_PARAMS = {"als": {"factors": 16, "iterations": 10}}
"""Hyper-parameters for the tiny world (60 users): fewer factors than the demo default."""


@pytest.fixture(scope="module")
def split(tiny_sqlite_url) -> tuple[TrainingData, pd.DataFrame]:
    """Training data before the holdout and the held-out paid items of warm users."""
    engine = make_engine(tiny_sqlite_url)
    oi = S.mart_order_item.c
    with engine.connect() as conn:
        items = pd.read_sql(sa.select(oi[C.USER_ID], oi[C.FOOD_ID], oi[C.SERVICE_DATE], oi[C.DINING_TYPE])
                            .where(oi[C.IS_PAID] == sa.true()), conn)
    items[C.SERVICE_DATE] = pd.to_datetime(items[C.SERVICE_DATE])
    cutoff = items[C.SERVICE_DATE].max() - pd.Timedelta(days=HOLDOUT_DAYS)
    data = build_training_data(engine, cutoff.date())
    engine.dispose()
    warm = set(data.user_ids[~data.cold].tolist())
    test = items[(items[C.SERVICE_DATE] >= cutoff) & items[C.USER_ID].isin(warm)]
    return data, test.drop_duplicates()


def reciprocal_ranks(model, data: TrainingData, test: pd.DataFrame) -> pd.DataFrame:
    """Per held-out item: 1/rank of the chosen food in the user's menu ranking, and random's
    expected 1/rank for a menu of that size (H_n / n)."""
    out = []
    for (day, dining), orders in test.groupby([C.SERVICE_DATE, C.DINING_TYPE]):
        recs = model.recommend(orders[C.USER_ID].unique(), k=1000, service_date=day.date(), dining_type=dining)
        menu_size = recs.groupby(C.USER_ID).size().rename(MENU_SIZE)
        hit = orders.merge(recs[[C.USER_ID, C.FOOD_ID, C.RANK]], on=[C.USER_ID, C.FOOD_ID])
        hit = hit.merge(menu_size, left_on=C.USER_ID, right_index=True)
        out.append(hit)
    ranked = pd.concat(out, ignore_index=True)
    harmonic = np.array([np.sum(1.0 / np.arange(1, n + 1)) for n in ranked[MENU_SIZE]])
    return pd.DataFrame({"model": 1.0 / ranked[C.RANK], "random": harmonic / ranked[MENU_SIZE]})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_ranks_the_chosen_food_above_random(name, split):
    if not model_available(name):
        pytest.skip(f"kurrant_core/models/{name}.py does not exist yet")
    data, test = split
    model = make_model(name, **QUALITY_PARAMS.get(name, {})).fit(data)
    rr = reciprocal_ranks(model, data, test)
    assert len(rr) >= 0.9 * len(test), "nearly every held-out choice should be on the ranked menu"
    assert len(rr) >= 50
    assert rr["model"].mean() > rr["random"].mean(), (
        f"{name}: MRR {rr['model'].mean():.3f} is not above random's {rr['random'].mean():.3f}")


# ------------------------------------------------------------------------------ what the core models compute
def test_popularity_is_the_groups_decayed_share_of_orders(split):
    data, _ = split
    model = make_model("popularity", half_life_days=10.0).fit(data)
    user = int(data.user_ids[~data.cold][0])
    group = data.users.set_index(C.USER_ID).loc[user, C.GROUP_ID]
    orders = data.orders[data.orders[C.GROUP_ID] == group]
    age = (pd.Timestamp(data.cutoff) - pd.Timedelta(days=1) - orders[C.SERVICE_DATE]).dt.days
    weight = (0.5 ** (age / 10.0)).groupby(orders[C.FOOD_ID]).sum()
    share = weight / weight.sum()
    scores = pd.Series(model.score([user])[0], index=data.food_ids)
    top = share.sort_values(ascending=False).index[:5]
    np.testing.assert_allclose(scores[top], share[top], rtol=0.01)      # + a 0.1% global tie-break
    never = [f for f in data.food_ids if f not in share.index]
    assert (scores[never] < share.min()).all()


def test_content_scores_are_cosines_with_the_decayed_mean_of_eaten_foods(split):
    data, _ = split
    model = make_model("content", half_life_days=20.0, offer_correction=0.0, history_weight=0.0,
                       offer_weight=0.0).fit(data)
    no_survey = ~data.users[C.HAS_SURVEY].to_numpy(dtype=bool) & ~data.cold
    u = int(np.flatnonzero(no_survey)[0])
    rows = data.orders[data.orders[USER_IDX] == u]
    age = (pd.Timestamp(data.cutoff) - pd.Timedelta(days=1) - rows[C.SERVICE_DATE]).dt.days.to_numpy()
    features = data.food_features.toarray()
    profile = ((0.5 ** (age / 20.0))[:, None] * features[rows[ITEM_IDX].to_numpy()]).sum(axis=0)
    expected = features @ profile / (np.linalg.norm(features, axis=1) * np.linalg.norm(profile))
    np.testing.assert_allclose(model.score([data.user_ids[u]])[0], expected, atol=1e-9)
