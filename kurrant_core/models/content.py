"""Content-based model: a user's taste profile in the food-feature space, scored by cosine.

The profile is the time-decayed mean of the feature rows (tags, maker, price band, nutrition,
spiciness) of what the user ate, blended with their taste survey, which matters most while they
have few orders and is all there is for a new user.

Choice-aware: users eat from their group's menu, so eating Korean food says little when the menu is
mostly Korean. ``offer_correction`` subtracts that share of the mean of the menus each choice was
made from (1: the profile is what they chose minus what was on offer, the first step of a
discrete-choice fit; 0: what they ate). Repeat-aware: ``history_weight`` adds the user's own
recency-decayed share of the food, less ``variety_strength`` when eaten on the last service day.
A choice-aware profile says which food a user picks *from a menu*; a date-free catalog list adds
``offer_weight`` x log P(on the user's menu) (the group's recent offer rate of the food) for
users with orders (a survey-only profile is not a choice from menus).
"""
from __future__ import annotations

from datetime import date
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kurrant_core import codes, columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.errors import ModelNotApplicable
from kurrant_core.models.base import Recommender
from kurrant_core.models.choice_features import (
    group_offer_rates, history_term, offer_rates_of, own_history)

EXPLAIN_FEATURES = 3
"""Shared features named in one explanation line."""
_EXPLAINED_KINDS = ("tag=", "maker=")


class ContentRecommender(Recommender):
    """Score = cosine(user profile, food feature row)."""

    name: ClassVar[str] = "content"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "half_life_days": (float, 365.0), "survey_weight": (float, 3.0), "offer_correction": (float, 1.0),
        "history_weight": (float, 8.0)}

    def __init__(self, *, half_life_days: float = 365.0, survey_weight: float = 3.0,
                 offer_correction: float = 1.0, history_weight: float = 8.0, variety_strength: float = 0.5,
                 offer_weight: float = 0.5,
                 random_state: int | None = 0):
        self.half_life_days = half_life_days
        self.survey_weight = survey_weight
        self.offer_correction = offer_correction
        self.history_weight = history_weight
        self.variety_strength = variety_strength
        self.offer_weight = offer_weight
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        if not data.tag_feature_index:      # tags carry the taste (the rest refines it), the survey too
            raise ModelNotApplicable("no food carries a taste tag (e_food_tags has none besides "
                                     "allergies), so there is no taste to match; tag the foods and retrain.")
        features = data.food_features
        eaten = data.user_food_matrix(data.decay_weights(self.half_life_days))
        eaten = eaten - float(self.offer_correction) * offered_share(data, self.half_life_days)
        history = normalize(eaten @ features).toarray()          # decayed mean, then unit length
        survey = survey_matrix(data)
        self.has_survey_ = survey.getnnz(axis=1) > 0
        n_orders = np.asarray(data.counts.sum(axis=1)).ravel()
        share = np.where(self.has_survey_, self.survey_weight / (self.survey_weight + n_orders), 0.0)
        self.n_orders_ = n_orders
        self.profiles_ = normalize((1 - share)[:, None] * history
                                   + share[:, None] * normalize(survey).toarray())
        if self.history_weight:
            self.history_ = own_history(data, self.half_life_days, 1, self.random_state)
        if self.offer_weight:
            self.offer_groups_, self.offer_rates_ = group_offer_rates(data)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        # Decay shrinks every past order alike as time passes: as_of does not change the profile
        # (it only says which foods the variety rule holds back).
        out = np.asarray((self.data_.food_features[i] @ self.profiles_[u].T).T)
        if self.history_weight:
            out = out + history_term(self.history_, u, i, as_of, self.history_weight, self.variety_strength)
        chose = self.n_orders_[u] > 0       # a survey-only profile says nothing about menus
        if self.offer_weight and as_of is None and chose.any():
            rates = offer_rates_of(self.offer_groups_, self.offer_rates_, self.data_.user_group, u[chose], i)
            out[chose] += float(self.offer_weight) * np.log(rates)
        return out

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


def offered_share(data: TrainingData, half_life_days: float) -> sp.csr_matrix:
    """users x foods: per menu a user ordered from, the decayed foods chosen spread evenly over
    the menu (what a choice at random would have eaten): subtracted from what they ate, it leaves
    what they preferred."""
    exposures = data.exposures
    if exposures.empty:
        return sp.csr_matrix((data.n_users, data.n_foods))
    meal = exposures.groupby([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE], sort=False).ngroup().to_numpy()
    size = np.bincount(meal)
    chosen = np.bincount(meal, weights=exposures[CHOSEN].to_numpy(dtype=float))
    age = (data.last_day - exposures[C.SERVICE_DATE]).dt.days.to_numpy(dtype=np.float64)
    weight = np.power(0.5, age / float(half_life_days)) * chosen[meal] / size[meal]
    out = sp.csr_matrix((weight, (exposures[USER_IDX].to_numpy(), exposures[ITEM_IDX].to_numpy())),
                        shape=(data.n_users, data.n_foods))
    out.sum_duplicates()
    return out


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
