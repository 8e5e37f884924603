"""Features of the hybrid's choice model for (user, food, date) rows, computed from dated history.

Every feature of a row dated ``d`` reads only orders and menu exposures dated strictly before
``d`` (the day being ranked is never seen), so the same builder serves the training exposures and
the ranking of a future menu without leakage. The only exception is the inner base models' scores,
which the caller passes in (see ``hybrid.py`` for how they are kept leak-free).

The workhorse is :class:`DatedEvents`: events sorted by (key, day), so "how many / how much / when
last, for this key before this day" is two binary searches per row, fully vectorised.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import MultiLabelBinarizer

from kurrant_core import codes, columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData, meal_numbers
from kurrant_core.models.history import HistoryRecommender

SET_ID = "set_id"
"""Column of :func:`training_choice_sets`: the choice set (one menu one user faced) of each row."""

NEVER_DAYS = 999.0
"""'Days since' value for something the user never ate (a tree model splits it off cleanly)."""

class Feature(StrEnum):
    """The choice model's features, in column order."""

    ALS_SCORE = "als_score"                  # inner ALS score (supplied by the caller)
    CONTENT_SCORE = "content_score"          # inner content score (supplied by the caller)
    GROUP_POPULARITY = "group_popularity"    # time-decayed share of this food in the group's orders
    TAKE_RATE = "take_rate"                  # smoothed share of this food's offers that were chosen
    USER_FOOD_COUNT = "user_food_count"      # times the user ate this food
    USER_MAKER_SHARE = "user_maker_share"    # share of the user's orders from this food's maker
    USER_CUISINE_SHARE = "user_cuisine_share"
    USER_N_ORDERS = "user_n_orders"          # how much history there is (lets the trees trust the rest)
    DAYS_SINCE_FOOD = "days_since_food"
    DAYS_SINCE_MAKER = "days_since_maker"
    DAYS_SINCE_CUISINE = "days_since_cuisine"
    ATE_YESTERDAY = "ate_yesterday"          # this very food, the day before (variety seeking)
    LAST_MEAL_SAME_MAKER = "last_meal_same_maker"      # the user's previous service day had this maker
    LAST_MEAL_SAME_CUISINE = "last_meal_same_cuisine"  # ... had this cuisine
    PRICE_Z = "price_z"                      # (price - user's mean price) / user's price std
    SPICE_DIFF = "spice_diff"                # spiciness level - user's mean spiciness level
    SURVEY_MATCH = "survey_match"            # tags shared with the user's taste survey
    MENU_SIZE = "menu_size"
    ALS_RANK = "als_rank"                    # rank within the menu, 0 = best .. 1 = worst
    CONTENT_RANK = "content_rank"
    POPULARITY_RANK = "popularity_rank"
    TAKE_RATE_RANK = "take_rate_rank"
    # repeat-aware: what the user's own history says about this food, exposure-aware
    USER_FOOD_SHARE = "user_food_share"      # time-decayed share of the user's orders (the history baseline)
    USER_FOOD_TAKE_RATE = "user_food_take_rate"    # smoothed share of this food's offers to the user taken
    USER_INGREDIENT_SHARE = "user_ingredient_share"
    USER_CUISINE_LIFT = "user_cuisine_lift"  # times chosen / times expected by chance when offered
    USER_MAKER_LIFT = "user_maker_lift"
    USER_INGREDIENT_LIFT = "user_ingredient_lift"
    HISTORY_RANK = "history_rank"


FEATURE_NAMES: list[str] = [str(f) for f in Feature]
SCORE_FEATURES = [Feature.ALS_SCORE, Feature.CONTENT_SCORE]
"""Inner-model scores the caller supplies, one value per row."""
RANKED = {Feature.ALS_RANK: Feature.ALS_SCORE, Feature.CONTENT_RANK: Feature.CONTENT_SCORE,
          Feature.POPULARITY_RANK: Feature.GROUP_POPULARITY, Feature.TAKE_RATE_RANK: Feature.TAKE_RATE,
          Feature.HISTORY_RANK: Feature.USER_FOOD_SHARE}
"""Menu-rank feature -> the feature it ranks."""


def to_days(dates) -> np.ndarray:
    """Dates (one date, or an array/Series of dates or datetimes) as int64 days since 1970-01-01."""
    if isinstance(dates, (date, np.datetime64)):
        dates = [dates]
    stamps = pd.to_datetime(dates if isinstance(dates, pd.Series) else pd.Series(list(dates), dtype=object))
    return stamps.to_numpy().astype("datetime64[D]").astype(np.int64)


class DatedEvents:
    """Weighted events keyed by an integer, answering "before day d" questions per query row.

    ``keys``/``days`` are int arrays; ``weights`` optional named float arrays (e.g. price).
    """

    def __init__(self, keys: np.ndarray, days: np.ndarray,
                 weights: Mapping[str, np.ndarray] | None = None):
        keys = np.asarray(keys, dtype=np.int64)
        days = np.asarray(days, dtype=np.int64)
        self.day0_ = int(days.min()) if len(days) else 0
        self.span_ = int(days.max()) - self.day0_ + 2 if len(days) else 2
        combined = keys * self.span_ + (days - self.day0_)
        order = np.argsort(combined, kind="stable")
        self.combined_ = combined[order]
        self.days_ = days[order]
        self.weights_ = {name: np.asarray(w, dtype=float)[order] for name, w in (weights or {}).items()}
        self._cumsums: dict[tuple[str | None, float | None], np.ndarray] = {}
        self._last_bounds: tuple | None = None

    def _bounds(self, keys: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions [start, stop) of the events with the row's key and a day before the row's day.

        The rows are searched in sorted order (one sort serves both ends: ``offset`` < ``span_``):
        on a large world's 20 M exposures, sorted needles make the binary searches 3-4 times
        faster (cache-friendly, and numpy narrows each search from the previous one). A feature
        row block asks several questions of the same rows (counts, sums, days since): the last
        call's positions are kept and reused for the very same ``keys`` and ``days`` objects
        (callers never change a query array in place)."""
        last = self._last_bounds
        if last is not None and last[0] is keys and last[1] is days:
            return last[2], last[3]
        asked = (keys, days)
        keys = np.asarray(keys, dtype=np.int64)
        offset = np.clip(np.asarray(days, dtype=np.int64) - self.day0_, 0, self.span_ - 1)
        first = keys * self.span_
        order = np.argsort(first + offset, kind="stable")
        start, stop = np.empty(len(keys), dtype=np.intp), np.empty(len(keys), dtype=np.intp)
        start[order] = np.searchsorted(self.combined_, first[order], side="left")
        stop[order] = np.searchsorted(self.combined_, (first + offset)[order], side="left")
        self._last_bounds = (*asked, start, stop)
        return start, stop

    def _cumsum(self, weight: str | None, half_life: float | None) -> np.ndarray:
        cache_key = (weight, half_life)
        if cache_key not in self._cumsums:
            w = self.weights_[weight] if weight else np.ones(len(self.days_))
            if half_life:   # decay relative to the last event day, so the terms stay <= w
                w = w * np.exp2((self.days_ - (self.day0_ + self.span_ - 2)) / half_life)
            self._cumsums[cache_key] = np.concatenate([[0.0], np.cumsum(w)])
        return self._cumsums[cache_key]

    def count_before(self, keys: np.ndarray, days: np.ndarray) -> np.ndarray:
        start, stop = self._bounds(keys, days)
        return (stop - start).astype(float)

    def sum_before(self, keys: np.ndarray, days: np.ndarray, weight: str | None = None,
                   half_life: float | None = None) -> np.ndarray:
        """Sum of ``weight`` (1 when None) over earlier events, each decayed by 0.5 ** (age / half_life)."""
        start, stop = self._bounds(keys, days)
        cs = self._cumsum(weight, half_life)
        total = cs[stop] - cs[start]
        if half_life:
            last_day = self.day0_ + self.span_ - 2
            total = total * np.exp2((last_day - np.asarray(days, dtype=float)) / half_life)
        return np.maximum(total, 0.0)

    def days_since_last(self, keys: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Days from the latest earlier event to the row's day; :data:`NEVER_DAYS` when none."""
        start, stop = self._bounds(keys, days)
        seen = stop > start
        out = np.full(len(start), NEVER_DAYS)
        out[seen] = np.asarray(days, dtype=np.int64)[seen] - self.days_[stop[seen] - 1]
        return out


@dataclass(frozen=True)
class FoodAttributes:
    """Per food index: contiguous maker and cuisine codes, price, spiciness level, survey tags."""

    maker: np.ndarray            # int, 0..n_makers-1
    cuisine: np.ndarray          # int, 0..n_cuisines-1 (one code may stand for "unknown")
    price: np.ndarray            # float, won
    spice: np.ndarray            # float, 0 (not spicy) .. 3
    tags: sp.csr_matrix          # foods × tag vocabulary, binary
    ingredient: np.ndarray | None = None   # int, 0..n-1 main ingredient (None: all one)


@dataclass(frozen=True)
class History:
    """Orders before the cutoff (one row per paid item) and menu exposures, in indices and days."""

    user: np.ndarray
    food: np.ndarray
    day: np.ndarray
    group: np.ndarray            # contiguous group index of each order
    exposure_food: np.ndarray    # one row per (menu a user ordered from, food on it)
    exposure_day: np.ndarray
    exposure_chosen: np.ndarray  # bool
    exposure_user: np.ndarray | None = None       # who saw each exposure row (None: no per-user offers)
    exposure_set_size: np.ndarray | None = None   # foods on that menu (chance of a pick = 1 / size)


_PRICE, _PRICE_SQUARED, _SPICE, _CHOSEN, _CHANCE = "price", "price_squared", "spice", "chosen", "chance"
"""Names of the event weights the builder sums (per-user running means, take counts)."""


class ChoiceFeatureBuilder:
    """Turns (user, food, day, choice set) rows into the :data:`FEATURE_NAMES` matrix.

    ``user_group`` gives each user's current contiguous group index (for group popularity);
    ``user_favorites`` is users × tag vocabulary (the taste survey), aligned with ``foods.tags``.
    A food nobody was offered yet has take rate 1 / ``typical_menu_size`` (a random pick), and
    ``take_prior`` offers' worth of that prior smooth every take rate. A user's own take rate of a
    food and their lifts (chosen / expected by chance, per cuisine, maker and main ingredient) read
    the menus that user ordered from, smoothed by ``user_prior`` offers' worth of chance.
    """

    def __init__(self, history: History, foods: FoodAttributes, user_group: np.ndarray,
                 user_favorites: sp.csr_matrix, *, typical_menu_size: float = 5.0,
                 half_life_days: float = 30.0, price_std_floor: float = 500.0, take_prior: float = 5.0,
                 user_prior: float = 1.0):
        self.foods = foods
        self.user_group = np.asarray(user_group, dtype=np.int64)
        self.user_favorites = sp.csr_matrix(user_favorites)
        self.half_life_days = half_life_days
        self.price_std_floor = price_std_floor
        self.take_prior = take_prior
        self.user_prior = user_prior
        n_foods = len(foods.price)
        self._n_foods = n_foods
        self._n_makers = int(foods.maker.max()) + 1 if n_foods else 1
        self._n_cuisines = int(foods.cuisine.max()) + 1 if n_foods else 1
        self._ingredient = np.zeros(n_foods, dtype=np.int64) if foods.ingredient is None else foods.ingredient
        self._n_ingredients = int(self._ingredient.max()) + 1 if n_foods else 1
        u, i, d = history.user.astype(np.int64), history.food.astype(np.int64), history.day
        spice = foods.spice[i]
        price = foods.price[i]
        self._user = DatedEvents(u, d, {_PRICE: price, _PRICE_SQUARED: price ** 2, _SPICE: spice})
        self._user_food = DatedEvents(u * n_foods + i, d)
        self._user_maker = DatedEvents(u * self._n_makers + foods.maker[i], d)
        self._user_cuisine = DatedEvents(u * self._n_cuisines + foods.cuisine[i], d)
        self._group_food = DatedEvents(history.group.astype(np.int64) * n_foods + i, d)
        self._group = DatedEvents(history.group, d)
        self._offers = DatedEvents(history.exposure_food, history.exposure_day,
                                   {_CHOSEN: history.exposure_chosen.astype(float)})
        self._prior_rate = 1.0 / max(float(typical_menu_size), 1.0)
        self._user_ingredient = DatedEvents(u * self._n_ingredients + self._ingredient[i], d)
        self._user_offers = self._user_offer_events(history)

    def _user_offer_events(self, history: History) -> dict[str, DatedEvents]:
        """Per-user offer events keyed by (user, food / cuisine / maker / ingredient): weights
        ``chosen`` and ``chance`` (1 / menu size). Empty when the history has no per-user offers."""
        if history.exposure_user is None:
            ex_u = ex_i = ex_d = np.zeros(0, dtype=np.int64)
            chosen = chance = np.zeros(0)
        else:
            ex_u = np.asarray(history.exposure_user, dtype=np.int64)
            ex_i = np.asarray(history.exposure_food, dtype=np.int64)
            ex_d = np.asarray(history.exposure_day, dtype=np.int64)
            chosen = np.asarray(history.exposure_chosen, dtype=float)
            size = history.exposure_set_size if history.exposure_set_size is not None else \
                np.full(len(ex_u), 1.0 / self._prior_rate)
            chance = 1.0 / np.maximum(np.asarray(size, dtype=float), 1.0)
        weights = {_CHOSEN: chosen, _CHANCE: chance}
        f = self.foods
        keys = {"food": (self._n_foods, ex_i), "cuisine": (self._n_cuisines, f.cuisine[ex_i]),
                "maker": (self._n_makers, f.maker[ex_i]),
                "ingredient": (self._n_ingredients, self._ingredient[ex_i])}
        return {name: DatedEvents(ex_u * n + code, ex_d, weights) for name, (n, code) in keys.items()}

    def _lift(self, kind: str, key: np.ndarray, day: np.ndarray) -> np.ndarray:
        """(times chosen + prior) / (times expected by chance + prior) before ``day``: 1 = indifferent."""
        events = self._user_offers[kind]
        chosen = events.sum_before(key, day, _CHOSEN)
        expected = events.sum_before(key, day, _CHANCE)
        return (chosen + self.user_prior) / (expected + self.user_prior)

    def transform(self, u: np.ndarray, i: np.ndarray, day: np.ndarray, set_id: np.ndarray,
                  scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """The feature matrix, ``len(u) × len(FEATURE_NAMES)``, float32.

        ``day`` is the date being ranked per row (int days, see :func:`to_days`); ``set_id`` groups
        the rows of one menu for the menu-relative features; ``scores`` holds :data:`SCORE_FEATURES`.
        """
        u = np.asarray(u, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        day = np.broadcast_to(np.asarray(day, dtype=np.int64), u.shape)
        f, hl = self.foods, self.half_life_days
        group = self.user_group[u]
        food_key = u * self._n_foods + i
        maker_key = u * self._n_makers + f.maker[i]
        cuisine_key = u * self._n_cuisines + f.cuisine[i]
        out: dict[str, np.ndarray] = {name: np.asarray(scores[name], dtype=float) for name in SCORE_FEATURES}

        group_total = self._group.sum_before(group, day, half_life=hl)
        group_food = self._group_food.sum_before(group * self._n_foods + i, day, half_life=hl)
        out[Feature.GROUP_POPULARITY] = np.divide(group_food, group_total, out=np.zeros(len(u)),
                                                  where=group_total > 0)
        offered = self._offers.count_before(i, day)
        chosen = self._offers.sum_before(i, day, _CHOSEN)
        out[Feature.TAKE_RATE] = (chosen + self.take_prior * self._prior_rate) / (offered + self.take_prior)

        n_orders = self._user.count_before(u, day)
        denom = np.maximum(n_orders, 1.0)
        out[Feature.USER_FOOD_COUNT] = self._user_food.count_before(food_key, day)
        out[Feature.USER_MAKER_SHARE] = self._user_maker.count_before(maker_key, day) / denom
        out[Feature.USER_CUISINE_SHARE] = self._user_cuisine.count_before(cuisine_key, day) / denom
        out[Feature.USER_N_ORDERS] = n_orders

        since_any = self._user.days_since_last(u, day)
        has_last = since_any < NEVER_DAYS
        since_food = out[Feature.DAYS_SINCE_FOOD] = self._user_food.days_since_last(food_key, day)
        since_maker = out[Feature.DAYS_SINCE_MAKER] = self._user_maker.days_since_last(maker_key, day)
        since_cuisine = out[Feature.DAYS_SINCE_CUISINE] = self._user_cuisine.days_since_last(cuisine_key, day)
        out[Feature.ATE_YESTERDAY] = (since_food == 1).astype(float)
        out[Feature.LAST_MEAL_SAME_MAKER] = (has_last & (since_maker == since_any)).astype(float)
        out[Feature.LAST_MEAL_SAME_CUISINE] = (has_last & (since_cuisine == since_any)).astype(float)

        mean_price = self._user.sum_before(u, day, _PRICE) / denom
        var_price = self._user.sum_before(u, day, _PRICE_SQUARED) / denom - mean_price ** 2
        std_price = np.maximum(np.sqrt(np.maximum(var_price, 0.0)), self.price_std_floor)
        out[Feature.PRICE_Z] = np.where(n_orders > 0, (f.price[i] - mean_price) / std_price, 0.0)
        mean_spice = self._user.sum_before(u, day, _SPICE) / denom
        out[Feature.SPICE_DIFF] = np.where(n_orders > 0, f.spice[i] - mean_spice, 0.0)
        out[Feature.SURVEY_MATCH] = survey_overlap(self.user_favorites, f.tags, u, i)

        decayed_total = self._user.sum_before(u, day, half_life=hl)
        decayed_food = self._user_food.sum_before(food_key, day, half_life=hl)
        out[Feature.USER_FOOD_SHARE] = np.divide(decayed_food, decayed_total, out=np.zeros(len(u)),
                                                 where=decayed_total > 0)
        offers = self._user_offers["food"]
        out[Feature.USER_FOOD_TAKE_RATE] = (
            (offers.sum_before(food_key, day, _CHOSEN) + self.user_prior * self._prior_rate)
            / (offers.count_before(food_key, day) + self.user_prior))
        ingredient_key = u * self._n_ingredients + self._ingredient[i]
        out[Feature.USER_INGREDIENT_SHARE] = self._user_ingredient.count_before(ingredient_key, day) / denom
        out[Feature.USER_CUISINE_LIFT] = self._lift("cuisine", cuisine_key, day)
        out[Feature.USER_MAKER_LIFT] = self._lift("maker", maker_key, day)
        out[Feature.USER_INGREDIENT_LIFT] = self._lift("ingredient", ingredient_key, day)

        out[Feature.MENU_SIZE], ranks = menu_relative_features(
            set_id, {rank: out[ranked] for rank, ranked in RANKED.items()})
        out.update(ranks)
        return np.column_stack([out[name] for name in FEATURE_NAMES]).astype(np.float32)


def survey_overlap(user_tags: sp.csr_matrix, food_tags: sp.csr_matrix, u: np.ndarray,
                   i: np.ndarray) -> np.ndarray:
    """Number of survey tags of user ``u[r]`` that food ``i[r]`` carries, per row."""
    if user_tags.nnz == 0 or len(u) == 0:
        return np.zeros(len(u))
    return np.asarray(user_tags[u].multiply(food_tags[i]).sum(axis=1)).ravel().astype(float)


def menu_relative_features(set_id: np.ndarray, values: Mapping[str, np.ndarray]
                           ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per row: the size of its set and, for each named value, its rank within the set scaled to
    0 (best) .. 1 (worst).

    Ties share their mean rank. Pure numpy (a sort per value), as it runs on every scoring call.
    """
    set_id = np.asarray(set_id)
    _, set_row, size = np.unique(set_id, return_inverse=True, return_counts=True)
    size = size[set_row].astype(float)
    if len(set_id) == 0:
        return size, {name: np.zeros(0) for name in values}
    out = {}
    span = np.maximum(size - 1.0, 1.0)
    for name, value in values.items():
        value = np.asarray(value, dtype=float)
        order = np.lexsort((-value, set_row))        # by set, best first
        s, v = set_row[order], value[order]
        position = np.arange(len(order))
        new_set = np.r_[True, s[1:] != s[:-1]]
        set_start = np.maximum.accumulate(np.where(new_set, position, 0))
        new_tie = new_set | np.r_[True, v[1:] != v[:-1]]
        tie = np.cumsum(new_tie) - 1
        first = position[new_tie]
        last = np.r_[first[1:], len(order)] - 1
        mean_rank = (first[tie] + last[tie]) / 2.0 - set_start     # 0-based, ties averaged
        rank = np.empty(len(order))
        rank[order] = mean_rank
        out[name] = rank / span
    return size, out


# ================================================================================= from TrainingData
def spiciness_level(spiciness_codes: pd.Series) -> np.ndarray:
    """0 (맵지 않음) .. 3 (불닭볶음면 맵기) from the 맵기 tag code; untagged foods count as not spicy."""
    first = codes.TAG_CATEGORY_CODES[codes.SPICINESS][0]
    level = spiciness_codes.astype("Float64").to_numpy(dtype=float, na_value=np.nan) - first
    return np.nan_to_num(level, nan=0.0)


def _tag_matrices(food_tags: pd.Series, user_tags: pd.Series) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Foods × tags and users × tags binary matrices over one shared tag vocabulary."""
    food_lists = [codes.parse_codes(v) for v in food_tags.fillna("")]
    user_lists = [codes.parse_codes(v) for v in user_tags.fillna("")]
    vocab = sorted({c for t in food_lists + user_lists for c in t})
    mlb = MultiLabelBinarizer(classes=vocab, sparse_output=True)
    return (sp.csr_matrix(mlb.fit_transform(food_lists), dtype=np.float32),
            sp.csr_matrix(mlb.fit_transform(user_lists), dtype=np.float32))


def _codes_of(foods: pd.DataFrame, column: str) -> np.ndarray | None:
    """Contiguous codes 0..n-1 of a categorical food column (missing values are one code), or None
    when the column is absent."""
    if column not in foods:
        return None
    return np.unique(foods[column].astype("Float64").fillna(-1).to_numpy(dtype=np.int64),
                     return_inverse=True)[1]


def cut_training_data(data: TrainingData, cutoff: date) -> TrainingData:
    """The same training data as if built with an earlier ``cutoff``: orders before it only.

    Everything order-derived (interactions, sequences, exposures) follows, as ``TrainingData``
    computes it lazily from ``orders``; catalog, users and menus stay as they are.
    """
    orders = data.orders[data.orders[C.SERVICE_DATE] < pd.Timestamp(cutoff)].reset_index(drop=True)
    return dataclasses.replace(data, cutoff=cutoff, orders=orders)


def exposure_sets(exposures: pd.DataFrame) -> np.ndarray:
    """Contiguous choice-set id per exposure row: one set per (user, service date, dining type)."""
    return meal_numbers(exposures)


def _set_sizes(sets: np.ndarray) -> np.ndarray:
    """Per row, how many rows its set has."""
    return np.bincount(sets)[sets] if len(sets) else np.zeros(0, dtype=np.int64)


def builder_from_training_data(data: TrainingData, **params) -> ChoiceFeatureBuilder:
    """A :class:`ChoiceFeatureBuilder` over ``data``'s orders, exposures, foods and users."""
    foods, orders, exposures = data.foods, data.orders, data.exposures
    group_ids = np.unique(np.concatenate([data.user_group, orders[C.GROUP_ID].to_numpy(dtype=np.int64)]))
    food_tags, user_tags = _tag_matrices(foods[C.FOOD_TAGS], data.users[C.FAVORITE_TAGS])
    attributes = FoodAttributes(
        maker=np.unique(data.food_makers, return_inverse=True)[1],
        cuisine=np.unique(data.food_category, return_inverse=True)[1],
        price=foods[C.PRICE].to_numpy(dtype=float), spice=spiciness_level(foods[C.SPICINESS_CODE]),
        tags=food_tags, ingredient=_codes_of(foods, C.MAIN_INGREDIENT_CODE))
    history = History(
        user=orders[USER_IDX].to_numpy(), food=orders[ITEM_IDX].to_numpy(),
        day=to_days(orders[C.SERVICE_DATE]),
        group=np.searchsorted(group_ids, orders[C.GROUP_ID].to_numpy(dtype=np.int64)),
        exposure_food=exposures[ITEM_IDX].to_numpy(),
        exposure_day=to_days(exposures[C.SERVICE_DATE]), exposure_chosen=exposures[CHOSEN].to_numpy(),
        exposure_user=exposures[USER_IDX].to_numpy(),
        exposure_set_size=_set_sizes(exposure_sets(exposures)))
    params.setdefault("half_life_days", data.half_life_days)
    menu_sizes = data.menus.groupby([C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]).size()
    params.setdefault("typical_menu_size", float(menu_sizes.median()) if len(menu_sizes) else 5.0)
    return ChoiceFeatureBuilder(history, attributes, np.searchsorted(group_ids, data.user_group), user_tags,
                                **params)


def training_choice_sets(exposures: pd.DataFrame, since: date, *, max_sets: int | None,
                         rng: np.random.Generator) -> pd.DataFrame:
    """The choice model's training rows: exposures served on or after ``since``, one positive per set.

    A set where the user ordered two foods of the same menu keeps one of them (at random) as the
    positive and drops the other (it is neither a clean negative nor a second choice of the same
    decision); sets without a chosen food are dropped. At most ``max_sets`` sets, sampled at random.
    Adds a contiguous ``SET_ID`` column.
    """
    rows = exposures[exposures[C.SERVICE_DATE] >= pd.Timestamp(since)].copy()
    rows[SET_ID] = exposure_sets(rows)
    chosen = rows[CHOSEN].to_numpy()
    keep_positive, has_positive = _one_positive_per_set(rows[SET_ID].to_numpy(), chosen, rng)
    sets = np.flatnonzero(has_positive)
    if max_sets is not None and len(sets) > max_sets:
        sets = np.sort(rng.choice(sets, size=max_sets, replace=False))
    in_sample = np.zeros(len(has_positive), dtype=bool)
    in_sample[sets] = True
    keep = in_sample[rows[SET_ID].to_numpy()] & (~chosen | keep_positive)
    out = rows[keep].reset_index(drop=True)
    out[SET_ID] = np.unique(out[SET_ID].to_numpy(), return_inverse=True)[1]
    return out


def _one_positive_per_set(sets: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(per row: the set's kept positive, per set: has a positive). A set where the user ordered
    two foods of the same menu keeps one of them, drawn at random."""
    n_sets = int(sets.max()) + 1 if len(sets) else 0      # numbered in any row order (meal_numbers)
    chosen_rows = rng.permutation(np.flatnonzero(chosen))   # shuffled, then the first of each set
    sets_of_chosen = sets[chosen_rows]
    _, first = np.unique(sets_of_chosen, return_index=True)
    keep_positive = np.zeros(len(sets), dtype=bool)
    keep_positive[chosen_rows[first]] = True
    has_positive = np.zeros(n_sets, dtype=bool)
    has_positive[sets_of_chosen] = True
    return keep_positive, has_positive


# ================================================================================= repeat-aware terms
OFFER_HALF_LIFE_DAYS = 28.0
"""Half-life of past menus in a group's offer rate: a menu rotation changes over a few weeks."""
OFFER_RATE_FLOOR = 1e-3
"""Offer rate of a food the group's menus never had: such a food can hardly be ordered, but the
model's own order still ranks it among its like."""


def group_offer_rates(data: TrainingData, half_life_days: float = OFFER_HALF_LIFE_DAYS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(group ids, groups x foods): the time-decayed share of each group's past service days
    (before the cutoff, any meal) whose menu had the food.

    A model that learned which food a user picks *from a menu* answers the catalog question
    ("what will they order next?") as P(on their menu) x P(picked | on it); this is the first
    factor, read from the menus already served.
    """
    menus = data.menus[data.menus[C.SERVICE_DATE] < pd.Timestamp(data.cutoff)]
    rows = menus[[C.GROUP_ID, C.SERVICE_DATE, ITEM_IDX]].drop_duplicates()
    groups, g = np.unique(rows[C.GROUP_ID].to_numpy(dtype=np.int64), return_inverse=True)
    age = (data.last_day - rows[C.SERVICE_DATE]).dt.days.to_numpy(dtype=float)
    weight = np.exp2(-np.maximum(age, 0.0) / float(half_life_days))      # per (group, day, food) row
    offered = sp.csr_matrix((weight, (g, rows[ITEM_IDX].to_numpy())), shape=(len(groups), data.n_foods))
    first_of_day = ~rows.duplicated([C.GROUP_ID, C.SERVICE_DATE]).to_numpy()
    served = np.bincount(g[first_of_day], weights=weight[first_of_day], minlength=len(groups))
    return groups, offered.toarray() / np.maximum(served, 1e-12)[:, None]


def offer_rates_of(groups: np.ndarray, rates: np.ndarray, user_group: np.ndarray, u: np.ndarray,
                   i: np.ndarray) -> np.ndarray:
    """``len(u) x len(i)`` offer rates of the users' groups (1 where a group has no past menus:
    nothing is known, so nothing changes), floored at :data:`OFFER_RATE_FLOOR`."""
    group = user_group[u]
    pos = np.minimum(np.searchsorted(groups, group), max(len(groups) - 1, 0))
    known = groups[pos] == group if len(groups) else np.zeros(len(u), dtype=bool)
    out = np.ones((len(u), len(i)))
    out[known] = rates[pos[known]][:, i]
    return np.maximum(out, OFFER_RATE_FLOOR)


def own_history(data: TrainingData, half_life_days: float, variety_days: int,
                random_state: int | None = 0) -> HistoryRecommender:
    """The ``history`` baseline fitted on ``data`` (variety rule on): the source of a learned
    model's history term (its ``shares_`` and ``recent_foods``)."""
    return HistoryRecommender(half_life_days=half_life_days, variety_days=max(int(variety_days), 0),
                              variety_strength=1.0, random_state=random_state)._fit_without_fallback(data)


def history_term(history: HistoryRecommender, u: np.ndarray, i: np.ndarray, as_of: date | None,
                 weight: float, variety_strength: float) -> np.ndarray:
    """``weight`` x (the user's decayed share of their orders that were the food, minus
    ``variety_strength`` where they ate it on one of the last service days before ``as_of``).

    The share is the ``history`` baseline's own score (in [0, 1]); ``variety_strength`` 1 takes
    more than any share away, as the baseline's rule at strength 0.5 does.
    """
    out = np.zeros((len(u), len(i)))
    if not weight:
        return out
    out += history.shares_[u][:, i].toarray()
    recent = history.recent_foods(as_of) if variety_strength else None
    if recent is not None:
        out -= float(variety_strength) * (recent[u][:, i].toarray() > 0)
    return float(weight) * out


# ================================================================================= menu choice sets
CHOICE_ATTRIBUTES = {"cuisine": C.CUISINE_CODE, "main_ingredient": C.MAIN_INGREDIENT_CODE,
                     "spiciness": C.SPICINESS_CODE, "food_type": C.FOOD_TYPE_CODE, "maker": C.MAKERS_ID}
"""Categorical food attributes a menu-choice model can weigh per user (name -> ``data.foods``
column); ``"price"`` adds the standardised log price."""
PRICE_ATTRIBUTE = "price"
VARIETY_TERMS = ("food_1_day", "food_2_days", "cuisine_1_day")
"""State the choice model controls for: the food eaten on the previous service day, two service
days before, and a food of the same cuisine on the previous service day."""


def food_attribute_design(data: TrainingData, attributes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(foods x columns design, attribute number of each column) for a per-user choice model.

    Each categorical attribute becomes its one-hot columns (missing values are one level); an
    attribute with a single level (e.g. no food carries the tag) adds nothing, and so does a price
    that never varies. Unknown attribute names raise ``KeyError``.
    """
    blocks, owner = [], []
    for number, name in enumerate(attributes):
        if name == PRICE_ATTRIBUTE:
            price = np.log(np.maximum(data.foods[C.PRICE].to_numpy(dtype=float, na_value=np.nan), 1.0))
            price = np.nan_to_num(price, nan=float(np.nanmean(price)) if np.isfinite(price).any() else 0.0)
            spread = price.std()
            column = ((price - price.mean()) / spread)[:, None] if spread > 1e-9 else np.zeros((len(price), 0))
        else:
            source = CHOICE_ATTRIBUTES[name]
            codes_ = _codes_of(data.foods, source) if source in data.foods else None
            levels = int(codes_.max()) + 1 if codes_ is not None and len(codes_) else 0
            column = np.eye(levels)[codes_] if levels > 1 else np.zeros((data.n_foods, 0))
        blocks.append(column)
        owner += [number] * column.shape[1]
    design = np.hstack(blocks) if blocks else np.zeros((data.n_foods, 0))
    return design.astype(np.float32), np.array(owner, dtype=np.int64)


class RecentMeals:
    """What each user ate on each service day before the cutoff, for the variety terms.

    Service days are the dates with a menu (any group) or an order; "the previous service day" of
    a date is the latest such date before it (a Monday's is the Friday).
    """

    def __init__(self, data: TrainingData):
        orders = data.orders
        served = to_days(orders[C.SERVICE_DATE]) if len(orders) else np.zeros(0, dtype=np.int64)
        menu_days = to_days(data.menus[C.SERVICE_DATE]) if len(data.menus) else np.zeros(0, dtype=np.int64)
        self.service_days = np.unique(np.concatenate([menu_days, served]))
        self.n_days = max(len(self.service_days), 1)
        self.cuisine = np.unique(data.food_category, return_inverse=True)[1]
        u, i = orders[USER_IDX].to_numpy(), orders[ITEM_IDX].to_numpy()
        row = u * self.n_days + np.searchsorted(self.service_days, served)
        shape = (data.n_users * self.n_days, data.n_foods)
        self.foods = sp.csr_matrix((np.ones(len(row), dtype=np.float32), (row, i)), shape=shape)
        self.cuisines = sp.csr_matrix((np.ones(len(row), dtype=np.float32), (row, self.cuisine[i])),
                                      shape=(shape[0], int(self.cuisine.max(initial=0)) + 1))

    def previous_days(self, days: np.ndarray, lag: int) -> np.ndarray:
        """Index of the ``lag``-th service day before each day (-1 when there is none)."""
        return np.searchsorted(self.service_days, np.asarray(days, dtype=np.int64), side="left") - lag

    def flags(self, u: np.ndarray, i: np.ndarray, days: np.ndarray) -> np.ndarray:
        """[rows, columns, len(VARIETY_TERMS)] 0/1 for users ``u`` (one per row, on ``days``) and
        foods ``i``: one shared 1-d array of food indices, or one row of them per user."""
        u = np.asarray(u, dtype=np.int64)
        shared = np.ndim(i) == 1
        shape = (len(u), np.shape(i)[-1])
        out = np.zeros((*shape, len(VARIETY_TERMS)), dtype=np.float32)
        if 0 in shape:
            return out
        for term, (matrix, lag, key) in enumerate([(self.foods, 1, i), (self.foods, 2, i),
                                                   (self.cuisines, 1, self.cuisine[i])]):
            day = self.previous_days(days, lag)
            rows = u * self.n_days + np.maximum(day, 0)
            if shared:      # slices: a catalog block is millions of cells
                hit = matrix[rows][:, key].toarray() > 0
            else:
                hit = np.asarray(matrix[np.repeat(rows, shape[1]), np.ravel(key)]).reshape(shape) > 0
            out[..., term] = hit & (day >= 0)[:, None]
        return out


@dataclass(frozen=True)
class MenuChoices:
    """Menus users chose from, packed for a conditional-logit fit: one row per menu (choice set)."""

    user: np.ndarray        # [S] user index
    day: np.ndarray         # [S] day number of the menu (see ``to_days``)
    foods: np.ndarray       # [S, M] food indices on the menu, -1 pads
    chosen: np.ndarray      # [S] column of the chosen food
    habit: np.ndarray       # [S, M] log(1 + times the user ate the food before that day)
    variety: np.ndarray     # [S, M, len(VARIETY_TERMS)]


def _choice_rows(data: TrainingData, max_sets: int | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exposure rows, their set number 0.., day of each set) of the menus ``menu_choices`` packs.

    The newest ``max_sets`` sets lie in a window of the newest days: the window is sized from the
    per-day count of sets with a choice and widened while the allergen rule leaves too few, so only
    its rows are filtered (the large world's 21 M exposure rows are never copied). The result is
    the same as filtering every set and keeping the newest (ties by set order).
    """
    exposures = data.exposures
    sets = exposure_sets(exposures)
    chosen = exposures[CHOSEN].to_numpy(dtype=bool)
    keep_positive, has_positive = _one_positive_per_set(sets, chosen, rng)
    usable = ~chosen | keep_positive
    set_day = np.zeros(len(has_positive), dtype=np.int64)
    set_day[sets] = to_days(exposures[C.SERVICE_DATE]) if len(sets) else np.zeros(0, dtype=np.int64)
    days, per_day = np.unique(set_day[has_positive], return_counts=True)
    newest_first = np.cumsum(per_day[::-1])                 # sets with a choice on the newest days
    users, foods = exposures[USER_IDX].to_numpy(), exposures[ITEM_IDX].to_numpy()
    wanted = 1.25 * max_sets if max_sets is not None else np.inf
    while True:
        covered = int(np.searchsorted(newest_first, wanted))
        since = days[::-1][covered] if covered < len(days) else np.iinfo(np.int64).min
        rows = np.flatnonzero((has_positive & (set_day >= since))[sets] & usable)
        allergic = np.asarray(data.user_allergens[users[rows]].multiply(data.food_allergens[foods[rows]])
                              .sum(axis=1)).ravel() > 0
        rows = rows[~allergic | chosen[rows]]
        rows = rows[np.bincount(sets[rows], minlength=len(has_positive))[sets[rows]] > 1]
        kept = np.unique(sets[rows])
        if max_sets is None or len(kept) >= max_sets or covered >= len(days):
            break
        wanted *= 2
    if max_sets is not None and len(kept) > max_sets:       # the newest menus, ties by set order
        kept = np.sort(kept[np.argsort(-set_day[kept], kind="stable")[:max_sets]])
        rows = rows[np.isin(sets[rows], kept)]
    rows = rows[np.argsort(sets[rows], kind="stable")]     # each set's rows together (already, in meal order)
    return rows, np.searchsorted(kept, sets[rows]), set_day[kept]


def menu_choices(data: TrainingData, *, max_sets: int | None = None, seed: int | None = 0) -> MenuChoices:
    """Every menu a user ordered from before the cutoff (the newest ``max_sets``), as choice sets.

    One chosen food per set, as ``training_choice_sets`` keeps it; foods carrying one of the user's
    allergens are left out of the set (they were never an option for that user), and a set left
    with one food is dropped. Habit and variety read only the days before each menu's day.
    """
    rows, set_number, day_of_set = _choice_rows(data, max_sets, np.random.default_rng(seed))
    exposures = data.exposures
    n_sets = len(day_of_set)
    starts = np.flatnonzero(np.diff(set_number, prepend=-1))    # a set's rows are contiguous
    position = np.arange(len(rows)) - starts[set_number]
    width = int(position.max(initial=0)) + 1
    foods = np.full((n_sets, width), -1, dtype=np.int64)
    foods[set_number, position] = exposures[ITEM_IDX].to_numpy()[rows]
    user = np.zeros(n_sets, dtype=np.int64)
    user[set_number] = exposures[USER_IDX].to_numpy()[rows]
    chosen = np.zeros(n_sets, dtype=np.int64)
    picked = exposures[CHOSEN].to_numpy(dtype=bool)[rows]
    chosen[set_number[picked]] = position[picked]
    on_menu = foods >= 0
    orders = data.orders
    eaten = DatedEvents(orders[USER_IDX].to_numpy() * data.n_foods + orders[ITEM_IDX].to_numpy(),
                        to_days(orders[C.SERVICE_DATE]))
    habit = np.zeros(foods.shape, dtype=np.float32)
    keys = (user[:, None] * data.n_foods + np.maximum(foods, 0))[on_menu]
    habit[on_menu] = np.log1p(eaten.count_before(keys, np.broadcast_to(day_of_set[:, None], foods.shape)[on_menu]))
    variety = RecentMeals(data).flags(user, np.maximum(foods, 0), day_of_set) * on_menu[..., None]
    return MenuChoices(user=user, day=day_of_set, foods=foods, chosen=chosen, habit=habit, variety=variety)
