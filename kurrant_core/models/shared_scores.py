"""Popularity within a group and the taste-survey match, as plain functions.

Three places score with them: the popularity model, the content model, and the cold-start fallback
of every model (``base.ColdStartFallback``), which answers for users with no orders. Keeping them
here, below all three, is what lets ``base`` use them without importing the models built on it.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kurrant_core import codes, columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData, meal_numbers

GLOBAL_TIEBREAK = 1e-3
"""Weight of global popularity added to the group's: orders foods the group never ate."""
POPULARITY_HALF_LIFE_DAYS = 30.0
"""Default half-life of the popularity model and of the cold-start fallback's popularity."""
PROFILE_HALF_LIFE_DAYS = 365.0
SURVEY_WEIGHT = 3.0
OFFER_CORRECTION = 1.0
"""Defaults of the content model's taste profile (also the cold-start fallback's survey match)."""
EXPLAIN_FEATURES = 3
"""Shared features named in one explanation line."""
_EXPLAINED_KINDS = ("tag=", "maker=")


# ------------------------------------------------------------------------------ group popularity
def shares(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows without orders stay zero)."""
    total = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, total, out=np.zeros_like(matrix, dtype=np.float64), where=total > 0)


def fit_group_popularity(data: TrainingData, half_life_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group ids, groups x foods scores, global scores): each food's share of the group's
    time-decayed orders plus a sliver of its global share; a group without history gets the global."""
    weights = data.decay_weights(half_life_days)
    groups, group_row = np.unique(data.orders[C.GROUP_ID].to_numpy(dtype=np.int64), return_inverse=True)
    per_group = sp.csr_matrix((weights, (group_row, data.orders[ITEM_IDX].to_numpy())),
                              shape=(len(groups), data.n_foods)).toarray()
    global_share = shares(per_group.sum(axis=0, keepdims=True))[0]
    return groups, shares(per_group) + GLOBAL_TIEBREAK * global_share, global_share * (1 + GLOBAL_TIEBREAK)


def group_popularity_scores(groups: np.ndarray, group_scores: np.ndarray, global_scores: np.ndarray,
                            user_group: np.ndarray, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``len(u) x len(i)``: each user's group's popularity scores (the global ones for a group
    without history). Exponential decay scales every food alike as time passes, so no date."""
    group = user_group[u]
    pos = np.minimum(np.searchsorted(groups, group), max(len(groups) - 1, 0))
    known = (groups[pos] == group) if len(groups) else np.zeros(len(u), dtype=bool)
    out = np.repeat(global_scores[None, i], len(u), axis=0)
    out[known] = group_scores[pos[known]][:, i]
    return out


# ------------------------------------------------------------------------------ taste profiles
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


def offered_share(data: TrainingData, half_life_days: float) -> sp.csr_matrix:
    """users x foods: per menu a user ordered from, the decayed foods chosen spread evenly over
    the menu (what a choice at random would have eaten): subtracted from what they ate, it leaves
    what they preferred."""
    exposures = data.exposures
    if exposures.empty:
        return sp.csr_matrix((data.n_users, data.n_foods))
    meal = meal_numbers(exposures)
    size = np.bincount(meal)
    chosen = np.bincount(meal, weights=exposures[CHOSEN].to_numpy(dtype=float))
    age = (data.last_day - exposures[C.SERVICE_DATE]).dt.days.to_numpy(dtype=np.float64)
    weight = np.power(0.5, age / float(half_life_days)) * chosen[meal] / size[meal]
    out = sp.csr_matrix((weight, (exposures[USER_IDX].to_numpy(), exposures[ITEM_IDX].to_numpy())),
                        shape=(data.n_users, data.n_foods))
    out.sum_duplicates()
    return out


def taste_profiles(data: TrainingData, half_life_days: float, survey_weight: float,
                   offer_correction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users x features unit profiles, who filled the survey, paid items per user).

    A profile is the time-decayed mean of the features of what the user chose (less
    ``offer_correction`` x what was on offer), blended with their survey favourites, which weigh
    ``survey_weight / (survey_weight + orders)``: all there is for a new user."""
    features = data.food_features
    eaten = data.user_food_matrix(data.decay_weights(half_life_days))
    eaten = eaten - float(offer_correction) * offered_share(data, half_life_days)
    history = normalize(eaten @ features).toarray()          # decayed mean, then unit length
    survey = survey_matrix(data)
    has_survey = survey.getnnz(axis=1) > 0
    n_orders = np.asarray(data.counts.sum(axis=1)).ravel()
    share = np.where(has_survey, survey_weight / (survey_weight + n_orders), 0.0)
    profiles = normalize((1 - share)[:, None] * history + share[:, None] * normalize(survey).toarray())
    return profiles, has_survey, n_orders


def profile_match(data: TrainingData, profiles: np.ndarray, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``len(u) x len(i)``: cosine of each user's profile with each food's feature row."""
    return np.asarray((data.food_features[i] @ profiles[u].T).T)


def explain_profile_match(data: TrainingData, profile: np.ndarray, source: str, i: np.ndarray) -> list[str]:
    """One line per food: the tags and maker it shares with ``profile`` (from ``source``)."""
    explained = np.array([code.startswith(_EXPLAINED_KINDS) for code in data.feature_codes])
    contrib = data.food_features[i].multiply(profile[None, :]).toarray()
    contrib[:, ~explained] = 0.0
    lines = []
    for row in contrib:
        top = [f for f in np.argsort(-row)[:EXPLAIN_FEATURES] if row[f] > 0]
        names = " · ".join(data.feature_names[f] for f in top)
        lines.append(f"shares {names} with {source}" if top else f"little in common with {source}")
    return lines
