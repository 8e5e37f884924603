"""Time-decayed popularity within the user's group: the baseline every model must beat.

A group's colleagues eat from the same menus, so what they ordered lately is the strongest
non-personal signal. A group without history borrows the global popularity.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from kurrant_core import columns as C
from kurrant_core.data import ITEM_IDX, TrainingData
from kurrant_core.models.base import Recommender

GLOBAL_TIEBREAK = 1e-3
"""Weight of global popularity added to the group's: orders foods the group never ate."""


class PopularityRecommender(Recommender):
    """Score = the food's share of the group's time-decayed orders (+ a sliver of global share)."""

    name: ClassVar[str] = "popularity"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {"half_life_days": (float, 30.0)}

    def __init__(self, *, half_life_days: float = 30.0, random_state: int | None = 0):
        self.half_life_days = half_life_days
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        weights = data.decay_weights(self.half_life_days)
        groups, group_row = np.unique(data.orders[C.GROUP_ID].to_numpy(dtype=np.int64), return_inverse=True)
        per_group = sp.csr_matrix((weights, (group_row, data.orders[ITEM_IDX].to_numpy())),
                                  shape=(len(groups), data.n_foods)).toarray()
        global_share = _shares(per_group.sum(axis=0, keepdims=True))[0]
        self.groups_ = groups
        self.group_scores_ = _shares(per_group) + GLOBAL_TIEBREAK * global_share
        self.global_scores_ = global_share * (1 + GLOBAL_TIEBREAK)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        # Exponential decay scales every food alike as time passes: as_of does not change the order.
        group = self.data_.user_group[u]
        pos = np.minimum(np.searchsorted(self.groups_, group), max(len(self.groups_) - 1, 0))
        known = (self.groups_[pos] == group) if len(self.groups_) else np.zeros(len(u), dtype=bool)
        out = np.repeat(self.global_scores_[None, i], len(u), axis=0)
        out[known] = self.group_scores_[pos[known]][:, i]
        return out

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        share = self._score(np.array([u]), i, None)[0]
        return [f"{s:.1%} of your group's recent orders" for s in share]


def _shares(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows without orders stay zero)."""
    total = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, total, out=np.zeros_like(matrix, dtype=np.float64), where=total > 0)
