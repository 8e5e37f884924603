"""The ``history`` baseline: a user's own habits, the rule every learned model has to beat.

Lunch ordering is habit plus variety seeking: people reorder what they like and avoid what they
had the last days. Repeat-purchase studies found such a rule beats most neural recommenders
(Li et al., "A Next Basket Recommendation Reality Check", TOIS 2023), so it is a baseline here:

- score of a food the user had = 1 + its share of the user's recency-decayed paid items
  (``half_life_days``), so every food the user had ranks above every food they never had;
- variety rule: a food eaten on one of the last ``variety_days`` service days before the day
  being ranked loses ``2 x variety_strength`` (strength 1 sends it below everything else);
- foods the user never had are padded by the group's time-decayed popularity (share in [0, 1]).

Service days are the dates with a menu (any group): a Monday's "last service day" is the Friday.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kurrant_core import columns as C
from kurrant_core.data import ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender
from kurrant_core.models.popularity import PopularityRecommender

HAD_IT_BONUS = 1.0
"""Added to the share of a food the user had: puts it above every never-had food (pad <= 1)."""
VARIETY_DROP = 2.0
"""What a strength-1 variety rule subtracts: more than the whole score range above."""


class HistoryRecommender(Recommender):
    """Score = 1 + decayed share of the user's own orders (minus the variety rule), else group popularity."""

    name: ClassVar[str] = "history"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "half_life_days": (float, 30.0), "variety_days": (int, 1), "variety_strength": (float, 0.5)}

    def __init__(self, *, half_life_days: float = 30.0, variety_days: int = 1,
                 variety_strength: float = 0.5, random_state: int | None = 0):
        self.half_life_days = half_life_days
        self.variety_days = variety_days
        self.variety_strength = variety_strength
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        if int(self.variety_days) < 0 or not 0.0 <= float(self.variety_strength) <= 1.0:
            raise KurrantError(f"history: variety_days must be >= 0 and variety_strength in [0, 1], "
                               f"not {self.variety_days} and {self.variety_strength}.")
        self.shares_ = normalize(data.user_food_matrix(data.decay_weights(self.half_life_days)),
                                 norm="l1").tocsr()
        self.popularity_ = PopularityRecommender(half_life_days=self.half_life_days)._fit_without_fallback(data)
        self.service_days_ = np.unique(data.menus[C.SERVICE_DATE].to_numpy().astype("datetime64[D]"))

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        pad = self.popularity_._score(u, i, None)
        peak = pad.max(axis=1, keepdims=True) if pad.size else pad
        pad = np.divide(pad, peak, out=np.zeros_like(pad), where=peak > 0)       # in [0, 1]
        own = self.shares_[u][:, i].toarray()
        had = (self.shares_[u][:, i] != 0).toarray()
        score = np.where(had, HAD_IT_BONUS + own, pad)
        recent = self.recent_foods(as_of)
        if recent is not None:
            score -= VARIETY_DROP * float(self.variety_strength) * (recent[u][:, i].toarray() > 0)
        return score

    def recent_foods(self, as_of: date | None) -> sp.csr_matrix | None:
        """users x foods: 1 where the user ate the food on one of the last ``variety_days``
        service days before ``as_of`` (None when the rule is off)."""
        if int(self.variety_days) == 0 or float(self.variety_strength) == 0.0:
            return None
        data = self.data_
        day = np.datetime64(pd.Timestamp(data.cutoff if as_of is None else as_of).date(), "D")
        cached = getattr(self, "_recent_cache", None)
        if cached is not None and cached[0] is data and cached[1] == day:
            return cached[2]
        before = self.service_days_[self.service_days_ < day]
        start = before[-int(self.variety_days)] if len(before) else day
        served = data.orders[C.SERVICE_DATE].to_numpy().astype("datetime64[D]")
        rows = (served >= start) & (served < day)
        recent = sp.csr_matrix((np.ones(int(rows.sum())), (data.orders[USER_IDX].to_numpy()[rows],
                                                           data.orders[ITEM_IDX].to_numpy()[rows])),
                               shape=(data.n_users, data.n_foods))
        self._recent_cache = (data, day, recent)
        return recent

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        data = self.data_
        counts = data.counts[u][:, i].toarray()[0]
        own = self.shares_[u][:, i].toarray()[0]
        recent = self.recent_foods(None)
        lines = []
        for col, f in enumerate(i):
            if counts[col] == 0:
                lines.append("never ordered it: popular in your group lately")
                continue
            line = f"you ordered it {int(counts[col])} times ({own[col]:.0%} of your recent orders)"
            if recent is not None and recent[u, f]:
                line += "; had it on a recent service day, so it moves down for variety"
            lines.append(line)
        return lines
