"""The accuracy-diversity trade-off: NDCG against intra-list diversity as the MMR lambda moves.

For a sample of test users, each model's top catalog candidates are re-ranked with MMR
(``kurrant_core.rerank``) at several lambdas; every lambda gives one point (NDCG@k against the
test window, mean intra-list diversity of the lists). lambda = 1 is the model's own order, lambda
= 0 diversity alone, so the curve shows what each step of diversity costs in accuracy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kurrant_core import columns as C, metrics as M
from kurrant_core.candidates import DEFAULT_POOL, candidate_sets
from kurrant_core.data import TrainingData
from kurrant_core.evaluation import names as N
from kurrant_core.models.base import Recommender
from kurrant_core.rerank import RerankSettings, rerank

DEFAULT_LAMBDAS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
MAX_USERS = 300
"""Test users sampled for the curve: re-ranking is per user, this keeps a model under seconds."""


def sample_users(truth: pd.DataFrame, max_users: int = MAX_USERS, seed: int = 0) -> np.ndarray:
    """Up to ``max_users`` distinct test users, drawn reproducibly."""
    users = np.sort(truth[C.USER_ID].unique())
    if len(users) <= max_users:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))


def mmr_tradeoff(model: Recommender, data: TrainingData, truth: pd.DataFrame, *, k: int = 10,
                 lambdas: tuple[float, ...] = DEFAULT_LAMBDAS, pool: int = DEFAULT_POOL,
                 max_users: int = MAX_USERS, seed: int = 0) -> list[dict[str, float]]:
    """One point per lambda: ``{mmr_lambda, ndcg (at k), ild}`` on sampled test users' catalog
    candidates (the model's top ``pool``), re-ranked to ``k`` with MMR."""
    users = sample_users(truth, max_users, seed)
    candidates = candidate_sets(data, model, users, n=pool)
    sample_truth = truth[truth[C.USER_ID].isin(users)]
    points = []
    for lam in lambdas:
        settings = RerankSettings(k=k, mmr_lambda=float(lam))
        rows = [(user_id, food_id, rank)
                for user_id, cand in candidates.items()
                for rank, food_id in enumerate(rerank(cand, settings).food_ids, start=1)]
        recs = pd.DataFrame(rows, columns=[C.USER_ID, C.FOOD_ID, C.RANK])
        points.append({C.MMR_LAMBDA: float(lam),
                       N.NDCG: M.ndcg_at_k(recs, sample_truth, k),
                       N.ILD: M.intra_list_diversity(recs, data.food_features, data.food_index)})
    return points
