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

from kurrant_core.data import TrainingData
from kurrant_core.errors import ModelNotApplicable
from kurrant_core.models.base import Recommender
from kurrant_core.models.choice_features import group_offer_rates, history_term, offer_rates_of, own_history
from kurrant_core.models.shared_scores import (
    OFFER_CORRECTION,
    PROFILE_HALF_LIFE_DAYS,
    SURVEY_WEIGHT,
    explain_profile_match,
    profile_match,
    taste_profiles,
)


class ContentRecommender(Recommender):
    """Score = cosine(user profile, food feature row)."""

    name: ClassVar[str] = "content"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "half_life_days": (float, PROFILE_HALF_LIFE_DAYS), "survey_weight": (float, SURVEY_WEIGHT),
        "offer_correction": (float, OFFER_CORRECTION),
        "history_weight": (float, 8.0)}

    def __init__(self, *, half_life_days: float = PROFILE_HALF_LIFE_DAYS, survey_weight: float = SURVEY_WEIGHT,
                 offer_correction: float = OFFER_CORRECTION, history_weight: float = 8.0, variety_strength: float = 0.5,
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
        self.profiles_, self.has_survey_, self.n_orders_ = taste_profiles(
            data, self.half_life_days, self.survey_weight, self.offer_correction)
        if self.history_weight:
            self.history_ = own_history(data, self.half_life_days, 1, self.random_state)
        if self.offer_weight:
            self.offer_groups_, self.offer_rates_ = group_offer_rates(data)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        # Decay shrinks every past order alike as time passes: as_of does not change the profile
        # (it only says which foods the variety rule holds back).
        out = profile_match(self.data_, self.profiles_, u, i)
        if self.history_weight:
            out = out + history_term(self.history_, u, i, as_of, self.history_weight, self.variety_strength)
        chose = self.n_orders_[u] > 0       # a survey-only profile says nothing about menus
        if self.offer_weight and as_of is None and chose.any():
            rates = offer_rates_of(self.offer_groups_, self.offer_rates_, self.data_.user_group, u[chose], i)
            out[chose] += float(self.offer_weight) * np.log(rates)
        return out

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        source = "your past orders" if self.n_orders_[u] else "your taste survey"
        return explain_profile_match(self.data_, self.profiles_[u], source, i)
