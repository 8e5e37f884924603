"""Every model learns something: on held-out days it ranks the food a user chose from their
group's menu higher than a random ranking would (mean reciprocal rank above random's)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.db import make_engine
from kurrant_core.models import MODEL_NAMES, make_model, model_available

HOLDOUT_DAYS = 14
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
        menu_size = recs.groupby(C.USER_ID).size().rename("n")
        hit = orders.merge(recs[[C.USER_ID, C.FOOD_ID, C.RANK]], on=[C.USER_ID, C.FOOD_ID])
        hit = hit.merge(menu_size, left_on=C.USER_ID, right_index=True)
        out.append(hit)
    ranked = pd.concat(out, ignore_index=True)
    harmonic = np.array([np.sum(1.0 / np.arange(1, n + 1)) for n in ranked["n"]])
    return pd.DataFrame({"model": 1.0 / ranked[C.RANK], "random": harmonic / ranked["n"]})


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "popularity"])
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
