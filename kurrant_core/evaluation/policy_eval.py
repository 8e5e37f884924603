"""A model seen through a diversity policy, so the protocols measure the lists as shipped.

``PolicyRanker(model, policy)`` answers ``recommend`` exactly as a run with that policy writes its
lists (``policies.apply_policy``), so ``score_fitted`` and the daily-menu protocol work on it
unchanged: the chosen food's rank in a policy-ranked menu, the catalog top-k after re-ranking.
``first_picks`` and ``convergence_of`` measure the population side (``convergence``).
"""
from __future__ import annotations

import logging
from typing import ClassVar

import pandas as pd

from kurrant_core import columns as C
from kurrant_core.data import TrainingData
from kurrant_core.evaluation.convergence import convergence_summary, group_day_table
from kurrant_core.models.base import Recommender
from kurrant_core.policies import apply_policy
from kurrant_core.rerank import Policy

log = logging.getLogger(__name__)


class PolicyRanker:
    """Duck-types the part of ``Recommender`` the protocols use: ``recommend`` and ``data_``."""

    shows_policy: ClassVar[bool] = True

    def __init__(self, model: Recommender, policy: Policy):
        self.model, self.policy = model, policy
        self.name, self.data_ = model.name, model.data_

    def recommend(self, user_ids, k: int = 10, *, service_date=None, dining_type=None,
                  candidates=None, exclude=None) -> pd.DataFrame:
        recs = apply_policy(self.model, self.data_, user_ids, k, self.policy,
                            service_date=service_date, dining_type=dining_type, exclude=exclude)
        return recs.drop(columns=C.RAW_SCORE)


def first_picks(ranker: Recommender | PolicyRanker, data: TrainingData, test: pd.DataFrame) -> pd.DataFrame:
    """Each test user's #1 of each test meal's menu (the AI pick), one row per user and meal."""
    parts = []
    for (day, dining_type), orders in test.groupby([C.SERVICE_DATE, C.DINING_TYPE], sort=True):
        log.info("picks of the day %s, dining type %s: %d users", pd.Timestamp(day).date(), dining_type,
                 orders[C.USER_ID].nunique())
        top = ranker.recommend(orders[C.USER_ID].unique(), 1, service_date=pd.Timestamp(day).date(),
                               dining_type=int(dining_type))
        top = top[top[C.RANK] == 1]
        parts.append(top.assign(**{C.SERVICE_DATE: day, C.DINING_TYPE: dining_type}))
    if not parts:
        return pd.DataFrame(columns=[C.USER_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, C.FOOD_ID,
                                     C.MAKERS_ID])
    out = pd.concat(parts, ignore_index=True)
    return out[[C.USER_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, C.FOOD_ID, C.MAKERS_ID]]


def convergence_of(ranker: Recommender | PolicyRanker, data: TrainingData,
                   test: pd.DataFrame) -> dict[str, float]:
    """The convergence summary of the test meals: the ranker's #1 picks against the actual orders."""
    picks = first_picks(ranker, data, test)
    picks[C.SERVICE_DATE] = pd.to_datetime(picks[C.SERVICE_DATE])
    orders = test.assign(**{C.MAKERS_ID: data.food_makers[data.food_indices(test[C.FOOD_ID].to_numpy())]})
    orders[C.SERVICE_DATE] = pd.to_datetime(orders[C.SERVICE_DATE])
    picks[C.GROUP_ID] = picks[C.GROUP_ID].astype("int64")
    return convergence_summary(group_day_table(picks, orders))
