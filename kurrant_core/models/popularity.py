"""Time-decayed popularity within the user's group: the baseline every model must beat.

A group's colleagues eat from the same menus, so what they ordered lately is the strongest
non-personal signal. A group without history borrows the global popularity.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np

from kurrant_core.data import TrainingData
from kurrant_core.models.base import Recommender
from kurrant_core.models.shared_scores import POPULARITY_HALF_LIFE_DAYS, fit_group_popularity, group_popularity_scores


class PopularityRecommender(Recommender):
    """Score = the food's share of the group's time-decayed orders (+ a sliver of global share)."""

    name: ClassVar[str] = "popularity"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {"half_life_days": (float, POPULARITY_HALF_LIFE_DAYS)}

    def __init__(self, *, half_life_days: float = POPULARITY_HALF_LIFE_DAYS, random_state: int | None = 0):
        self.half_life_days = half_life_days
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        self.groups_, self.group_scores_, self.global_scores_ = fit_group_popularity(data, self.half_life_days)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        # Exponential decay scales every food alike as time passes: as_of does not change the order.
        return group_popularity_scores(self.groups_, self.group_scores_, self.global_scores_,
                                       self.data_.user_group, u, i)

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        share = self._score(np.array([u]), i, None)[0]
        return [f"{s:.1%} of your group's recent orders" for s in share]

