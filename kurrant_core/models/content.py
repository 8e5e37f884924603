"""Content-based model: a user's taste profile in the food-feature space, scored by cosine.

The profile is the time-decayed mean of the feature rows (tags, maker, price band, nutrition,
spiciness) of what the user ate, blended with their taste survey, which matters most while they
have few orders and is all there is for a new user.
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kurrant_core import codes, columns as C
from kurrant_core.data import TrainingData
from kurrant_core.errors import ModelNotApplicable
from kurrant_core.models.base import Recommender

EXPLAIN_FEATURES = 3
"""Shared features named in one explanation line."""
_EXPLAINED_KINDS = ("tag=", "maker=")


class ContentRecommender(Recommender):
    """Score = cosine(user profile, food feature row)."""

    name: ClassVar[str] = "content"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {"half_life_days": (float, 60.0), "survey_weight": (float, 3.0)}

    def __init__(self, *, half_life_days: float = 60.0, survey_weight: float = 3.0,
                 random_state: int | None = 0):
        self.half_life_days = half_life_days
        self.survey_weight = survey_weight
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        if not data.tag_feature_index:      # tags carry the taste (the rest refines it), the survey too
            raise ModelNotApplicable("no food carries a taste tag (e_food_tags has none besides "
                                     "allergies), so there is no taste to match; tag the foods and retrain.")
        features = data.food_features
        eaten = data.user_food_matrix(data.decay_weights(self.half_life_days))
        history = normalize(eaten @ features).toarray()          # decayed mean, then unit length
        survey = survey_matrix(data)
        self.has_survey_ = survey.getnnz(axis=1) > 0
        n_orders = np.asarray(data.counts.sum(axis=1)).ravel()
        share = np.where(self.has_survey_, self.survey_weight / (self.survey_weight + n_orders), 0.0)
        self.n_orders_ = n_orders
        self.profiles_ = normalize((1 - share)[:, None] * history
                                   + share[:, None] * normalize(survey).toarray())

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        # Decay shrinks every past order alike as time passes: as_of does not change the profile.
        return np.asarray((self.data_.food_features[i] @ self.profiles_[u].T).T)

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        data = self.data_
        explained = np.array([code.startswith(_EXPLAINED_KINDS) for code in data.feature_codes])
        contrib = data.food_features[i].multiply(self.profiles_[u][None, :]).toarray()
        contrib[:, ~explained] = 0.0
        source = "your past orders" if self.n_orders_[u] else "your taste survey"
        lines = []
        for row in contrib:
            top = [f for f in np.argsort(-row)[:EXPLAIN_FEATURES] if row[f] > 0]
            names = " · ".join(data.feature_names[f] for f in top)
            lines.append(f"shares {names} with {source}" if top else f"little in common with {source}")
        return lines


def survey_matrix(data: TrainingData) -> sp.csr_matrix:
    """users x features: 1 on the tag features of each user's taste-survey favourites."""
    rows, cols = [], []
    for u, tags in enumerate(data.users[C.FAVORITE_TAGS].fillna("")):
        for code in codes.parse_codes(tags):
            col = data.tag_feature_index.get(code)
            if col is not None:
                rows.append(u)
                cols.append(col)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)),
                         shape=(data.n_users, data.food_features.shape[1]))
