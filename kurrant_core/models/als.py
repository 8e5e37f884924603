"""Matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008) with ``implicit``'s ALS.

Each (user, food) cell gets confidence 1 + alpha x time-decayed order count, so recent, repeated
choices pull the factors hardest while every unseen food still counts as a weak negative.

Repeat-aware: a low-rank model smooths a user's own habits away (what they order every week
scores like what their neighbours order), so the score adds a history term, ``history_weight`` x
(the user's own recency-decayed share of the food, minus ``variety_strength`` when they ate it on
the last ``variety_days`` service days before the day being ranked): the factors rank what the
user has not settled on, their own history what they have.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from kurrant_core import columns as C
from kurrant_core.data import TrainingData
from kurrant_core.models.base import Recommender
from kurrant_core.models.choice_features import history_term, own_history

EXPLAIN_FOODS = 2
"""Past foods named in one explanation line."""


class ALSRecommender(Recommender):
    """Score = user factors . food factors (alternating least squares) + the user's history term."""

    name: ClassVar[str] = "als"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "factors": (int, 32), "iterations": (int, 15), "regularization": (float, 0.1), "alpha": (float, 10.0),
        "history_weight": (float, 8.0), "history_half_life_days": (float, 365.0)}

    def __init__(self, *, factors: int = 32, regularization: float = 0.1, alpha: float = 10.0,
                 iterations: int = 15, history_weight: float = 8.0, history_half_life_days: float = 365.0,
                 variety_days: int = 1, variety_strength: float = 0.5, random_state: int | None = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.history_weight = history_weight
        self.history_half_life_days = history_half_life_days
        self.variety_days = variety_days
        self.variety_strength = variety_strength
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        confidence = data.interactions.astype(np.float32, copy=True)
        confidence.data = 1.0 + np.float32(self.alpha) * confidence.data
        # implicit reads the matrix values as the confidence itself (its own alpha stays 1).
        # implicit's README: BLAS threads fight implicit's own threads; pin BLAS to one.
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(factors=int(self.factors), regularization=float(self.regularization),
                                          alpha=1.0, iterations=int(self.iterations),
                                          random_state=self.random_state)
            als.fit(confidence, show_progress=False)
        self.user_factors_ = np.asarray(als.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(als.item_factors, dtype=np.float32)
        self.history_ = own_history(data, self.history_half_life_days, self.variety_days, self.random_state)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        return (self.user_factors_[u] @ self.item_factors_[i].T
                + history_term(self.history_, u, i, as_of, self.history_weight, self.variety_strength))

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        """Name the past foods whose factors lie closest to each food, weighted by how much the
        user ate them (the item-item view of the same factors)."""
        data = self.data_
        row = data.interactions[u]
        past, weight = row.indices, row.data
        unit = self.item_factors_ / np.maximum(np.linalg.norm(self.item_factors_, axis=1, keepdims=True), 1e-12)
        contrib = (unit[i] @ unit[past].T) * weight[None, :]
        names = data.foods[C.FOOD_NAME].to_numpy()
        lines = []
        for f, row_contrib in zip(i, contrib):
            order = [j for j in np.argsort(-row_contrib) if past[j] != f and row_contrib[j] > 0][:EXPLAIN_FOODS]
            again = " (you ate it before)" if f in past else ""
            if order:
                lines.append("because you ate " + ", ".join(str(names[past[j]]) for j in order) + again)
            else:
                lines.append("unlike what you usually order" + again)
        return lines
