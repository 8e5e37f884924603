"""Hybrid: the other models' scores plus history features, re-ranked by a choice (CTR) model.

The production question is "which food of today's short menu will this user pick?", so the model
learns from real choices: every menu a user ordered from is one choice set, the chosen food a
positive and the rest negatives (``TrainingData.exposures``). A gradient-boosting classifier
(scikit-learn ``HistGradientBoostingClassifier``) reads, per (user, food, date), the inner ALS and
content scores, group popularity, the user's history with the food / maker / cuisine, recency and
variety (eaten yesterday?), price and spiciness against the user's habits, the taste survey, the
food's take rate when offered, and ranks within the menu (see ``choice_features``). Repeat-aware
features read what the user's own history says: the history baseline's decayed share of the food
(and its menu rank), how often the user took the food when it was on their menu, and the user's
lifts for the food's cuisine, maker and main ingredient (times chosen / times a random pick would
have chosen them, from the menus they ordered from).

The choice model answers "which food of this menu?". A date-free catalog list asks "what will the
user order next?", so there the probability is weighed by how often the food was on the user's
group menu lately (``choice_features.group_offer_rates``).

Leakage: history features of a row dated ``d`` read only days before ``d``. The inner models'
scores cannot be recomputed per day, so the choice model trains on the exposures of the last
``train_weeks`` before the cutoff and the inner models that score them are fitted on the orders
before that window (at least half of the history stays before it). For ranking, the inner models
are refitted on all the data; their scores are then fresher than in training, which the menu
ranks (relative, not absolute) absorb.
"""
from __future__ import annotations

import pickle
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController, threadpool_limits

from kurrant_core import columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.models import make_model
from kurrant_core.models.base import Recommender
from kurrant_core.models.choice_features import (
    FEATURE_NAMES,
    NEVER_DAYS,
    RANKED,
    SET_ID,
    Feature,
    builder_from_training_data,
    cut_training_data,
    group_offer_rates,
    offer_rates_of,
    to_days,
    training_choice_sets,
)

INNER_MODELS = {Feature.ALS_SCORE: "als", Feature.CONTENT_SCORE: "content"}
"""Choice-model feature -> the registered model whose score it is."""
INNER_PARAMS = {"als": {"history_weight": 0.0}, "content": {"history_weight": 0.0, "offer_weight": 0.0}}
"""The inner models score taste alone: the choice model reads the user's history itself (the
history features), so their own history terms would only blur the taste they add."""
MIN_CHOICE_SETS = 20
"""Fewer training menus than this: no choice model, rank by the inner models' mean menu rank."""
EXPLAIN_REASONS = 3
GBM_FILE = "choice_model.pkl"
FIT_THREADS = 1
"""OpenMP threads of the boosted-tree fit. The workbench shares two cores with the dashboard and
jobs; on a busy machine OpenMP threads spin against each other (demo world, other work running:
the tree fit took 124 s with two threads, 8 s with one)."""


class HybridRecommender(Recommender):
    """Score = the choice model's probability that the user picks the food from the candidates."""

    name: ClassVar[str] = "hybrid"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "max_iter": (int, 150), "learning_rate": (float, 0.1), "max_leaf_nodes": (int, 31),
        "train_weeks": (int, 8), "max_choice_sets": (int, 20_000), "validation_days": (int, 7),
        "n_candidates": (int, 50)}

    def __init__(self, *, max_iter: int = 150, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 40, l2_regularization: float = 1.0, train_weeks: int = 8,
                 max_choice_sets: int = 20_000, validation_days: int = 7, n_candidates: int = 50,
                 half_life_days: float = 30.0, random_state: int | None = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.train_weeks = train_weeks
        self.max_choice_sets = max_choice_sets
        self.validation_days = validation_days
        self.n_candidates = n_candidates
        self.half_life_days = half_life_days
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _fit(self, data: TrainingData) -> None:
        rng = np.random.default_rng(self.random_state)
        window_start = self._window_start(data)
        early = cut_training_data(data, window_start)
        early_models = self._fit_inner(early)
        sets = training_choice_sets(data.exposures, window_start, max_sets=self.max_choice_sets, rng=rng)
        self.builder_ = builder_from_training_data(data, half_life_days=self.half_life_days)
        users, rows = np.unique(sets[USER_IDX].to_numpy(), return_inverse=True)
        foods, cols = np.unique(sets[ITEM_IDX].to_numpy(), return_inverse=True)
        days = to_days(sets[C.SERVICE_DATE])
        X = self._features(_inner_scores(early_models, users, foods), users, foods, rows, cols, days,
                           sets[SET_ID].to_numpy())
        y = sets[CHOSEN].to_numpy()
        self.window_start_ = window_start.isoformat()
        self.n_choice_sets_ = int(sets[SET_ID].nunique()) if len(sets) else 0
        self.feature_medians_ = np.median(X, axis=0) if len(X) else np.zeros(len(FEATURE_NAMES))
        self.gbm_ = self._fit_choice_model(X, y, days, data.cutoff) \
            if self.n_choice_sets_ >= MIN_CHOICE_SETS else None
        for model in self._fit_inner(data):          # the inner models that score for ranking
            setattr(self, f"{model.name}_", model)
        self.offer_groups_, self.offer_rates_ = group_offer_rates(data)

    def _window_start(self, data: TrainingData) -> date:
        """First service date of the choice model's training menus (inner models train before it)."""
        start = data.cutoff - timedelta(weeks=self.train_weeks)
        if len(data.orders):
            first = pd.Timestamp(data.orders[C.SERVICE_DATE].min()).date()
            start = max(start, first + (data.cutoff - first) / 2)
        return start

    def _fit_inner(self, data: TrainingData) -> list[Recommender]:
        return [make_model(name, random_state=self.random_state, **INNER_PARAMS.get(name, {}))
                ._fit_without_fallback(data) for name in INNER_MODELS.values()]

    def _fit_choice_model(self, X: np.ndarray, y: np.ndarray, days: np.ndarray,
                          cutoff: date) -> HistGradientBoostingClassifier:
        """Boosted trees; early stopping on the last ``validation_days`` (a time split) when it has
        positives, else a fixed number of rounds."""
        val = days >= to_days(cutoff)[0] - self.validation_days if self.validation_days > 0 else \
            np.zeros(len(y), dtype=bool)
        usable = val.any() and y[val].any() and y[~val].any() and (~y[~val]).any()
        gbm = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            early_stopping=bool(usable), n_iter_no_change=10, random_state=self.random_state)
        with threadpool_limits(FIT_THREADS, "openmp"):
            if usable:
                return gbm.fit(X[~val], y[~val], X_val=X[val], y_val=y[val])
            return gbm.fit(X, y)

    # ------------------------------------------------------------------ scoring
    def _inner_models(self) -> list[Recommender]:
        return [getattr(self, f"{name}_") for name in INNER_MODELS.values()]

    def _features(self, scores: dict[str, np.ndarray], u: np.ndarray, i: np.ndarray, rows: np.ndarray,
                  cols: np.ndarray, days: np.ndarray, set_id: np.ndarray) -> np.ndarray:
        """Feature rows of the pairs (u[rows], i[cols]); ``scores`` are the inner u x i matrices."""
        pair_scores = {feature: matrix[rows, cols] for feature, matrix in scores.items()}
        return self.builder_.transform(u[rows], i[cols], days, set_id, pair_scores)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        scores = _inner_scores(self._inner_models(), u, i)
        if self.gbm_ is None:
            return _mean_rank(scores)
        day = to_days(as_of or self.data_.cutoff)[0]
        if len(i) <= self.n_candidates:     # a menu: the choice model scores every pair
            rows, cols = np.repeat(np.arange(len(u)), len(i)), np.tile(np.arange(len(i)), len(u))
            out = np.empty((len(u), len(i)))
        else:       # the catalog: the foods the user had, then the inner models' best, are the candidates
            prior = _mean_rank(scores) + (self.data_.counts[u][:, i] > 0).toarray()
            cols = np.argpartition(-prior, self.n_candidates - 1, axis=1)[:, :self.n_candidates].ravel()
            rows = np.repeat(np.arange(len(u)), self.n_candidates)
            out = prior - 3.0               # below every probability: the rest rank after the candidates
        X = self._features(scores, u, i, rows, cols, np.full(len(rows), day), rows)
        probability = self._predict(X)
        if len(i) > self.n_candidates:      # the catalog: P(picked from their menu) x P(on their menu)
            rates = offer_rates_of(self.offer_groups_, self.offer_rates_, self.data_.user_group, u, i)
            probability = probability * rates[rows, cols]
        out[rows, cols] = probability
        return out

    def _predict(self, X: np.ndarray) -> np.ndarray:
        """P(chosen) per row. One OpenMP thread: a menu is a few hundred rows, and thread start-up
        would cost ten times the work (measured on the tiny world)."""
        with _thread_controller().limit(limits=1, user_api="openmp"):
            return self.gbm_.predict_proba(X)[:, 1]

    # ------------------------------------------------------------------ explaining
    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        """Top feature contributions: how much the probability drops when a feature is set to its
        training median (the features that pushed this food up)."""
        if self.gbm_ is None or len(i) == 0:
            return super()._explain(u, i)
        day = to_days(self.data_.cutoff)[0]
        users, pairs = np.array([u]), np.arange(len(i))
        scores = _inner_scores(self._inner_models(), users, i)
        X = self._features(scores, users, i, np.zeros(len(i), dtype=int), pairs, np.full(len(i), day),
                           np.zeros(len(i)))
        base = self._predict(X)
        lift = np.empty((len(i), len(FEATURE_NAMES)))
        for f in range(len(FEATURE_NAMES)):
            neutral = X.copy()
            neutral[:, f] = self.feature_medians_[f]
            lift[:, f] = base - self._predict(neutral)
        lines = []
        for row, food in enumerate(i):
            raised = [FEATURE_NAMES[f] for f in np.argsort(-lift[row]) if lift[row, f] > 1e-4]
            reasons = _reasons(self.data_, u, int(food), raised, dict(zip(FEATURE_NAMES, X[row].tolist())))
            lines.append(" · ".join(reasons[:EXPLAIN_REASONS]) if reasons
                         else f"choice model: {base[row]:.0%} chance you pick it")
        return lines

    # ------------------------------------------------------------------ persistence
    def _save_state(self, folder: Path) -> None:
        """The boosted trees are pickled (scikit-learn's own persistence; load only artifacts this
        workbench wrote); the feature builder is rebuilt from the saved training data on load; the
        rest (medians, inner ALS/content models) goes through the default writer."""
        gbm, builder = self.gbm_, self.builder_
        with open(folder / GBM_FILE, "wb") as fh:
            pickle.dump(gbm, fh)
        del self.gbm_, self.builder_
        try:
            super()._save_state(folder)
        finally:
            self.gbm_, self.builder_ = gbm, builder

    def _load_state(self, folder: Path) -> None:
        super()._load_state(folder)
        with open(folder / GBM_FILE, "rb") as fh:
            self.gbm_ = pickle.load(fh)
        self.builder_ = builder_from_training_data(self.data_, half_life_days=self.half_life_days)


_CONTROLLER: list[ThreadpoolController] = []


def _thread_controller() -> ThreadpoolController:
    """One threadpoolctl controller for every prediction: ``threadpool_limits`` looks the loaded
    libraries up again on each call, which cost more than the trees themselves on small menus
    (about 4 ms a call, thousands of calls per evaluation)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _inner_scores(models: list[Recommender], u: np.ndarray, i: np.ndarray) -> dict[str, np.ndarray]:
    """Choice-model feature -> ``len(u) x len(i)`` scores of the inner model behind it."""
    return {feature: np.nan_to_num(np.asarray(model._fitted_score(u, i, None), dtype=float))
            for feature, model in zip(INNER_MODELS, models)}


def _mean_rank(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Mean per-row percentile rank of the inner scores (1 = best): the candidate pre-ranking.
    Ties share their average rank, a NaN score has none and does not count (pandas' ``rank(pct=True)``,
    which took twice as long on a catalog block)."""
    ranks = []
    for m in scores.values():
        m = np.asarray(m, dtype=float)
        counted = np.sum(~np.isnan(m), axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            ranks.append(rankdata(m, axis=1, method="average", nan_policy="omit") / counted)
    return np.nan_to_num(np.mean(ranks, axis=0))


def _reasons(data: TrainingData, u: int, food: int, features: list[str],
             values: dict[str, float]) -> list[str]:
    """Readable reasons for the features that raised the food's score, one per idea, best first."""
    seen, out = set(), []
    for feature in features:
        feature = RANKED.get(feature, feature)   # a rank reads as its score
        if feature not in seen:
            seen.add(feature)
            text = _reason(data, u, food, feature, values[feature])
            if text:
                out.append(text)
    return out


def _reason(data: TrainingData, u: int, food: int, feature: str, value: float) -> str:
    """One reason for a feature that raised the food's score ('' when it reads as no reason)."""
    row = data.foods.iloc[food]
    name, maker, cuisine = row[C.FOOD_NAME], row[C.MAKERS_NAME], row[C.CUISINE_LABEL]
    never = value >= NEVER_DAYS
    if feature == Feature.USER_FOOD_COUNT:
        return f"ate {name} {value:.0f} times" if value else f"new to you: {name}"
    if feature == Feature.USER_MAKER_SHARE:
        return f"{value:.0%} of your orders from {maker}" if value >= 0.15 else f"a change of maker: {maker}"
    if feature == Feature.USER_CUISINE_SHARE:
        return f"you often eat {cuisine} ({value:.0%})" if value >= 0.15 else \
            f"a change of cuisine: {cuisine}"
    if feature == Feature.DAYS_SINCE_FOOD:
        return f"never tried {name}" if never else f"not eaten in {value:.0f} days"
    if feature == Feature.DAYS_SINCE_MAKER:
        return f"new maker for you: {maker}" if never else f"no {maker} for {value:.0f} days"
    if feature == Feature.DAYS_SINCE_CUISINE:
        return f"no {cuisine} for a while" if never or value > 3 else f"{cuisine} again"
    if feature == Feature.USER_FOOD_SHARE:
        return f"{value:.0%} of your recent orders" if value >= 0.05 else ""
    if feature == Feature.USER_FOOD_TAKE_RATE:
        return f"you took it {value:.0%} of the times it was on your menu" if value >= 0.3 else ""
    lifted = {Feature.USER_CUISINE_LIFT: cuisine, Feature.USER_MAKER_LIFT: maker,
              Feature.USER_INGREDIENT_LIFT: row.get(C.MAIN_INGREDIENT_LABEL, None)}
    if feature in lifted:
        return f"you pick {lifted[feature]} {value:.1f}x as often as chance" \
            if value >= 1.2 and lifted[feature] is not None else ""
    if feature == Feature.SPICE_DIFF:
        if abs(value) <= 0.5:
            return "as spicy as you like"
        return "spicier than usual" if value > 0 else "milder than usual"
    phrases = {
        Feature.ALS_SCORE: "users with your taste chose it",
        Feature.CONTENT_SCORE: "like what you usually eat",
        Feature.GROUP_POPULARITY: f"{data.users.iloc[u][C.GROUP_NAME]} group favourite",
        Feature.TAKE_RATE: f"picked {value:.0%} of the times it was offered",
        Feature.ATE_YESTERDAY: "" if value else "not eaten yesterday",
        Feature.LAST_MEAL_SAME_MAKER: "" if value else "a change from your last meal",
        Feature.LAST_MEAL_SAME_CUISINE: "" if value else f"a change to {cuisine}",
        Feature.PRICE_Z: "cheaper than you usually pay" if value < 0 else "",
        Feature.SURVEY_MATCH: "matches your taste survey" if value else "",
    }
    return phrases.get(feature, "")
