"""TIFU-KNN (Hu et al., "Modeling Personalized Item Frequency Information for Next-basket
Recommendation", SIGIR 2020): a user's own time-decayed item frequencies, smoothed by the users
most like them.

A basket is one meal (a user's order from one menu: service date and dining type). Counting back
from the newest basket, baskets are cut into groups of ``group_size``; basket ``p`` places from the
newest of its group weighs ``within_decay ** p`` and group ``g`` places from the newest group weighs
``group_decay ** g``. The user vector is the mean over groups of each group's mean decayed basket
(the paper's personalised item frequency, PIF). The prediction blends the user's own vector with
the mean vector of their ``n_neighbours`` most similar users (cosine):
``alpha x own + (1 - alpha) x neighbours``.

Lunch adds a variety rule (as the ``history`` baseline has it): a food eaten on one of the last
``variety_days`` service days before the day being ranked keeps only ``1 - variety_strength`` of
its score. Foods neither the user nor a neighbour had are ordered by group popularity.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kurrant_core.data import ITEM_IDX, MEAL_KEYS, USER_IDX, TrainingData, meal_numbers
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender
from kurrant_core.models.history import HistoryRecommender

POPULARITY_TIEBREAK = 1e-6
"""Weight of the group's popularity share added to the (row-max 1) TIFU score: orders the foods
no one near the user had, without reordering the others."""
NEIGHBOUR_BLOCK_CELLS = 4_000_000
"""Users x users similarities computed at once while searching neighbours (~32 MB)."""


class TIFURecommender(Recommender):
    """Score = alpha x own decayed item frequency + (1 - alpha) x the neighbours' (variety rule on)."""

    name: ClassVar[str] = "tifu"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "alpha": (float, 0.5), "n_neighbours": (int, 20), "group_size": (int, 7),
        "within_decay": (float, 1.0), "group_decay": (float, 0.98)}

    def __init__(self, *, alpha: float = 0.5, n_neighbours: int = 20, group_size: int = 7,
                 within_decay: float = 1.0, group_decay: float = 0.98, variety_days: int = 1,
                 variety_strength: float = 0.5, random_state: int | None = 0):
        self.alpha = alpha
        self.n_neighbours = n_neighbours
        self.group_size = group_size
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.variety_days = variety_days
        self.variety_strength = variety_strength
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _fit(self, data: TrainingData) -> None:
        if not 0.0 <= float(self.alpha) <= 1.0 or int(self.group_size) < 1 or int(self.n_neighbours) < 0:
            raise KurrantError(f"tifu: alpha must be in [0, 1], group_size >= 1 and n_neighbours >= 0, "
                               f"not {self.alpha}, {self.group_size} and {self.n_neighbours}.")
        own = user_frequency_vectors(data, int(self.group_size), float(self.within_decay),
                                     float(self.group_decay))
        neighbours = nearest_neighbours(own, int(self.n_neighbours))
        blend = float(self.alpha) * own + (1.0 - float(self.alpha)) * (neighbours @ own)
        peak = blend.max(axis=1).toarray().ravel()
        self.own_ = own
        self.neighbours_ = neighbours
        scale = np.divide(1.0, peak, out=np.zeros_like(peak), where=peak > 0)
        self.scores_ = sp.csr_matrix(sp.diags(scale) @ blend)          # each user's best food = 1
        # the variety rule and the popularity tie-break are the history baseline's own
        self.history_ = HistoryRecommender(
            variety_days=self.variety_days, variety_strength=self.variety_strength,
            random_state=self.random_state)._fit_without_fallback(data)

    # ------------------------------------------------------------------ scoring
    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        score = self.scores_[u][:, i].toarray()
        recent = self.history_.recent_foods(as_of)
        if recent is not None:
            score *= 1.0 - float(self.variety_strength) * (recent[u][:, i].toarray() > 0)
        pad = self.history_.popularity_._score(u, i, None)
        return score + POPULARITY_TIEBREAK * pad

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        own = self.own_[u][:, i].toarray()[0]
        near = np.flatnonzero(self.neighbours_[u].toarray()[0])
        had = (self.data_.counts[near][:, i] > 0).sum(axis=0).A1 if len(near) else np.zeros(len(i))
        recent = self.history_.recent_foods(None)
        lines = []
        for col, f in enumerate(i):
            line = (f"{int(had[col])} of the {len(near)} users who eat most like you had it"
                    if len(near) else "popular in your group lately")
            if own[col] > 0:
                line = f"you ordered it {int(self.data_.counts[u, f])} times; {line}"
            if recent is not None and recent[u, f]:
                line += "; had it on a recent service day, so it moves down for variety"
            lines.append(line)
        return lines


# ====================================================================== the TIFU vectors
def user_frequency_vectors(data: TrainingData, group_size: int, within_decay: float,
                           group_decay: float) -> sp.csr_matrix:
    """users x foods personalised item frequency (PIF) vectors of TIFU-KNN.

    Meals are numbered back from each user's newest (0 = newest); meal ``t`` falls in group
    ``t // group_size`` at position ``t % group_size`` and weighs
    ``group_decay ** group x within_decay ** position / (size of its group x number of groups)``,
    so the vector is the mean over groups of each group's mean decayed basket (one unit per
    distinct food of a meal).
    """
    meals = data.orders[[*MEAL_KEYS, ITEM_IDX]].drop_duplicates()
    meal = meal_numbers(meals)      # numbered in order: by user, then time
    user = meals[USER_IDX].to_numpy()
    meal_user = np.zeros(meal.max() + 1 if len(meal) else 0, dtype=np.int64)
    meal_user[meal] = user
    n_meals = np.bincount(meal_user, minlength=data.n_users)
    last_meal = np.cumsum(n_meals) - 1                                  # each user's newest meal number
    back = last_meal[user] - meal                                       # 0 = the user's newest meal
    group, position = back // group_size, back % group_size
    n_groups = -(-n_meals // group_size)
    full_groups = n_meals // group_size
    # the oldest group holds the remainder when the meals do not fill it
    size = np.where(group < full_groups[user], group_size, n_meals[user] - full_groups[user] * group_size)
    weight = (np.power(group_decay, group) * np.power(within_decay, position)
              / (np.maximum(size, 1) * np.maximum(n_groups[user], 1)))
    out = sp.csr_matrix((weight, (user, meals[ITEM_IDX].to_numpy())), shape=(data.n_users, data.n_foods))
    out.sum_duplicates()
    return out


def nearest_neighbours(vectors: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """users x users: 1/k on each user's ``k`` most cosine-similar other users with a history.

    Users without a history get no neighbours and are nobody's neighbour. Scored in blocks of
    users (a dense block x users similarity each), never user by user.
    """
    n = vectors.shape[0]
    unit = normalize(vectors).tocsr()
    has = np.diff(unit.indptr) > 0
    candidates = np.flatnonzero(has)
    k = min(k, max(len(candidates) - 1, 0))
    if k == 0:
        return sp.csr_matrix((n, n))
    pool = unit[candidates].T.tocsc()
    rows, cols = [], []
    block = max(1, NEIGHBOUR_BLOCK_CELLS // max(len(candidates), 1))
    for start in range(0, len(candidates), block):
        users = candidates[start:start + block]
        sim = (unit[users] @ pool).toarray()
        sim[np.arange(len(users)), np.arange(start, start + len(users))] = -np.inf    # not oneself
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(users, k))
        cols.append(candidates[top.ravel()])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.full(len(rows), 1.0 / k), (rows, cols)), shape=(n, n))
