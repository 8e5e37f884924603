"""A model's candidate pool for one user, packed for the diversity re-ranker.

The re-ranker (``kurrant_core.rerank``) is pure numpy and knows nothing about models or training
data; this module is the bridge: it asks a fitted model for its top-``n`` candidates (a day's menu
or the catalog, allergy filter and cold-start fallback included) and attaches what each re-ranking
step needs from the training data: food features, category, maker, popularity, days since the user
last ate each food and the user's category mix.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from kurrant_core import columns as C
from kurrant_core.data import ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.models.base import Recommender
from kurrant_core.rerank import DEFAULT_POOL, CandidateSet
from kurrant_core.rerank_block import CandidateBlock


def candidate_set(data: TrainingData, model: Recommender, user_id: int, *, n: int = DEFAULT_POOL,
                  service_date: date | None = None, dining_type: int | None = None) -> CandidateSet:
    """The model's top-``n`` candidates for one user (see :func:`candidate_sets`)."""
    return candidate_sets(data, model, [user_id], n=n, service_date=service_date,
                          dining_type=dining_type)[int(user_id)]


def candidate_sets(data: TrainingData, model: Recommender, user_ids, *, n: int = DEFAULT_POOL,
                   service_date: date | None = None, dining_type: int | None = None,
                   exclude=None) -> dict[int, CandidateSet]:
    """User id -> the model's top-``n`` candidates, scored, ready for ``rerank``.

    With ``service_date`` the pool is that day's menu of the user's group (meal ``dining_type``),
    else the catalog; a user with no candidates gets no entry. ``days_since_eaten`` counts from
    ``service_date`` (else the training cutoff) back to the user's last order of the food before
    the cutoff; the category mix is the user's share of orders per cuisine before the cutoff
    (empty for a cold user). One ``recommend`` call serves every user, so a batch is cheap;
    ``exclude`` is passed to it.
    """
    recs = model.recommend(user_ids, n, service_date=service_date, dining_type=dining_type,
                           exclude=exclude)
    if recs.empty:
        return {}
    users = recs[C.USER_ID].to_numpy()
    u, i, days, allergen = _pair_columns(data, recs, service_date)
    popularity = _popularity(data)
    mix, codes = data.category_mix, data.category_codes
    mix_codes, mix_shares = codes[mix.indices].tolist(), mix.data.tolist()   # CSR rows, read without scipy
    food_ids, scores = recs[C.FOOD_ID].to_numpy(), recs[C.SCORE].to_numpy()
    features, category, maker = data.dense_features[i], data.food_category[i], data.food_makers[i]
    popular = popularity[i]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])     # recommend keeps users together
    ends = np.r_[starts[1:], len(users)]
    out: dict[int, CandidateSet] = {}
    for a, b, user, row in zip(starts.tolist(), ends.tolist(), users[starts].tolist(), u[starts].tolist()):
        lo, hi = mix.indptr[row], mix.indptr[row + 1]
        out[int(user)] = CandidateSet(
            food_ids=food_ids[a:b], relevance=scores[a:b], features=features[a:b],
            category=category[a:b], maker=maker[a:b], popularity=popular[a:b],
            days_since_eaten=days[a:b], user_category_mix=dict(zip(mix_codes[lo:hi], mix_shares[lo:hi])),
            allergen=allergen[a:b], user_id=int(user))
    return out


def candidate_block(data: TrainingData, model: Recommender, user_ids, *, n: int = DEFAULT_POOL,
                    service_date: date | None = None, dining_type: int | None = None,
                    exclude=None) -> CandidateBlock:
    """``candidate_sets`` as one padded block (users x pool width), for ``rerank_block``: the same
    pools, built with array operations only (no per-user objects)."""
    recs = model.recommend(user_ids, n, service_date=service_date, dining_type=dining_type,
                           exclude=exclude)
    if recs.empty:                                       # nobody has candidates: an empty block
        recs = recs.astype({C.USER_ID: np.int64, C.FOOD_ID: np.int64, C.SCORE: np.float64})
    users = recs[C.USER_ID].to_numpy()
    new_user = np.r_[True, users[1:] != users[:-1]] if len(users) else np.zeros(0, bool)
    starts = np.flatnonzero(new_user)                    # recommend keeps each user's rows together
    row = np.cumsum(new_user) - 1
    col = np.arange(len(users)) - starts[row] if len(users) else np.zeros(0, np.int64)
    shape = (len(starts), int(col.max(initial=-1)) + 1)

    def padded(values: np.ndarray, fill) -> np.ndarray:
        out = np.full(shape, fill, dtype=np.asarray(values).dtype)
        out[row, col] = values
        return out

    u, i, days, allergen = _pair_columns(data, recs, service_date)
    pool_categories = data.food_category[i]
    axis = np.union1d(data.category_codes, pool_categories)
    mix = np.zeros((shape[0], len(axis)))
    mix[:, np.searchsorted(axis, data.category_codes)] = data.category_mix[u[starts]].toarray()
    return CandidateBlock(
        user_ids=users[starts], food_ids=padded(recs[C.FOOD_ID].to_numpy(), -1),
        valid=padded(np.ones(len(users), bool), False),
        relevance=padded(recs[C.SCORE].to_numpy(np.float64), 0.0),
        category=padded(pool_categories, axis[0] if len(axis) else -1), maker=padded(data.food_makers[i], -1),
        popularity=padded(_popularity(data)[i].astype(np.float64), 0.0), days_since_eaten=padded(days, np.inf),
        allergen=padded(allergen, False), mix=mix, category_axis=axis)


def _pair_columns(data: TrainingData, recs: pd.DataFrame,
                  service_date: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``recs``: user index, food index, days since the user last ate the food before
    the cutoff (counted to ``service_date``, else the cutoff; inf = never) and whether the food
    carries one of the user's allergy tags."""
    u = data.user_indices(recs[C.USER_ID].to_numpy())
    i = data.food_indices(recs[C.FOOD_ID].to_numpy())
    as_of = pd.Timestamp(service_date if service_date is not None else data.cutoff)
    last = np.asarray(data.last_eaten_day[u, i]).ravel() if len(u) else np.zeros(0)
    today = np.datetime64(as_of.date(), "D").astype(np.int64)
    days = np.where(last > 0, today - (last - 1), np.inf)
    allergen = np.asarray(data.user_allergens[u].multiply(data.food_allergens[i]).sum(axis=1)).ravel() > 0
    return u, i, days, allergen


def _popularity(data: TrainingData) -> np.ndarray:
    """Paid items per food before the cutoff (memoised on the data: one sum per data set)."""
    cached = data.__dict__.get("_food_popularity")
    if cached is None:
        cached = np.asarray(data.counts.sum(axis=0)).ravel()
        data.__dict__["_food_popularity"] = cached
    return cached


def user_category_mix(data: TrainingData, u: np.ndarray) -> dict[int, dict[int, float]]:
    """User index -> {cuisine code: share of the user's paid items before the cutoff}."""
    orders = data.orders[data.orders[USER_IDX].isin(u)]
    if orders.empty:
        return {}
    category = pd.Series(data.food_category[orders[ITEM_IDX].to_numpy()], index=orders.index)
    shares = pd.crosstab(orders[USER_IDX], category, normalize="index")
    return {int(user): {int(c): float(s) for c, s in row.items() if s > 0}
            for user, row in shares.iterrows()}


def _days_since_eaten(data: TrainingData, u: np.ndarray, i: np.ndarray,
                      as_of: pd.Timestamp) -> np.ndarray:
    """Days from each (user, food)'s last order before the cutoff to ``as_of``; inf = never."""
    orders = data.orders[data.orders[USER_IDX].isin(np.unique(u))]
    last = orders.groupby([USER_IDX, ITEM_IDX])[C.SERVICE_DATE].max()
    eaten = last.reindex(pd.MultiIndex.from_arrays([u, i]))
    days = (as_of - eaten).dt.days.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(days), np.inf, days)
