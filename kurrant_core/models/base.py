"""The one recommender contract: what every model shares, implemented once.

A subclass stores its hyper-parameters in ``__init__`` (keyword-only, with defaults, under their
own names), learns in ``_fit(data)`` (attributes ending in ``_``) and scores in
``_score(u, i, as_of)`` on contiguous indices. This base class owns the rest: raw id <-> index
mapping, candidate restriction to a date's group menu, the allergy hard filter, exclusions,
top-k, the shared-format DataFrame, the cold-start fallback, explanations and save/load.

Data a model cannot use (no food carries a taste tag, nobody ordered twice): ``_fit`` raises
``ModelNotApplicable`` with a one-line reason, and ``fit`` puts the popularity baseline in the
model's place (``stand_in_``), keeps the reason (``fallback_reason_``) and reports it through
``fit_warnings()``, which the run records. Composite models score their parts through
``_fitted_score`` so that a part's stand-in answers for it.

Persistence: ``save(folder)`` writes ``params.json``, the training data (``data/``) and the
learned state. The default state writer handles attributes ending in ``_`` that are numpy
arrays, scipy sparse matrices, JSON values or nested recommenders; a model holding anything else
(a torch network, a boosted-tree model) overrides ``_save_state``/``_load_state``.
"""
from __future__ import annotations

import inspect
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kurrant_core import codes, columns as C
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError, ModelNotApplicable
from kurrant_core.models.shared_scores import (
    OFFER_CORRECTION,
    POPULARITY_HALF_LIFE_DAYS,
    PROFILE_HALF_LIFE_DAYS,
    SURVEY_WEIGHT,
    explain_profile_match,
    fit_group_popularity,
    group_popularity_scores,
    profile_match,
    taste_profiles,
)

log = logging.getLogger(__name__)
PARAMS_FILE = "params.json"
STATE_ARRAYS = "state.npz"
STATE_JSON = "state.json"
DATA_FOLDER = "data"
ARTIFACT_VERSION = 1
STAND_IN_MODEL = "popularity"
"""The registered model that answers for a model the data do not suit."""
FALLBACK_META = "fallback_reason"
"""params.json key of a model saved with a stand-in: its state is the base's, not the subclass's."""
SURVEY_POPULARITY_TIEBREAK = 0.1
"""Weight of group popularity added to the survey match of a cold user: breaks the many ties a
survey of two or three cuisines leaves."""

SCORE_BLOCK_CELLS = 4_000_000
"""Users x candidates scored at once: keeps a large world's catalog lists within ~100 MB."""

ExcludeSpec = Iterable[int] | Mapping[int, Iterable[int]] | None


class Recommender(ABC):
    """Base of every model; see the module docstring for what a subclass implements."""

    name: ClassVar[str] = ""
    MAIN_PARAMS: ClassVar[dict[str, tuple[type, Any]]] = {}
    """Hyper-parameters the retrain page shows: name -> (type, default)."""

    def __init__(self, *, random_state: int | None = 0):
        self.random_state = random_state

    # ------------------------------------------------------------------ scikit-learn manners
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The hyper-parameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Recommender:
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise KurrantError(f"{self.name} has no parameter {sorted(unknown)}; it takes "
                               f"{self._param_names()}.")
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ what subclasses implement
    @abstractmethod
    def _fit(self, data: TrainingData) -> None:
        """Learn from ``data``; set learned attributes ending in ``_``."""

    @abstractmethod
    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """``len(u) x len(i)`` scores (higher = better) for user and food indices.

        ``as_of`` is the service date being ranked (None: the day after the training data).
        Only called for users with orders before the cutoff; cold users go to the fallback.
        """

    # ------------------------------------------------------------------ fitting
    def fit(self, data: TrainingData) -> Recommender:
        """Learn from the training data and prepare the cold-start fallback; returns self.

        When the data do not suit the model, the popularity baseline is fitted in its place and
        the reason is logged (see ``fit_warnings``).
        """
        self._fit_without_fallback(data)
        self.fallback_ = ColdStartFallback.of(data)
        for line in self.fit_warnings():
            log.warning(line)
        return self

    def _fit_without_fallback(self, data: TrainingData) -> Recommender:
        """``_fit``, or the stand-in when ``_fit`` raises ``ModelNotApplicable``; no cold-start part."""
        for key in ("stand_in_", "fallback_reason_"):
            vars(self).pop(key, None)   # a refit that works drops the stand-in of an earlier one
        self.data_ = data
        try:
            self._fit(data)
        except ModelNotApplicable as exc:
            for key in [k for k in vars(self) if k.endswith("_") and k != "data_"]:
                delattr(self, key)      # whatever _fit learned before it gave up
            self._stand_in(data, str(exc))
        return self

    def _stand_in(self, data: TrainingData, reason: str) -> None:
        from kurrant_core.models import make_model
        self.fallback_reason_ = reason
        stand_in = make_model(STAND_IN_MODEL, random_state=self.random_state)
        self.stand_in_ = stand_in._fit_without_fallback(data)

    def fit_warnings(self) -> list[str]:
        """One line per part of the fitted model that fell back (its own, then its inner models'):
        what a run records as its warnings. Empty when the model runs as designed."""
        lines = []
        reason = getattr(self, "fallback_reason_", None)
        if reason:
            lines.append(f"{self.name} fell back to {STAND_IN_MODEL}: {reason}")
        for key, value in self._learned_state().items():
            if isinstance(value, Recommender) and key != "stand_in_":
                lines += [f"{self.name}: inner {line}" for line in value.fit_warnings()]
        return lines

    def _check_fitted(self) -> TrainingData:
        if not hasattr(self, "data_"):
            raise KurrantError(f"The {self.name} model is not trained yet: call fit(data) or load a "
                               "saved run first.")
        return self.data_

    # ------------------------------------------------------------------ scoring
    def _fitted_score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """``_score`` of what was fitted: the model itself, or its stand-in when the data did not
        suit it. Composite models call this on their parts instead of ``_score``."""
        stand_in = getattr(self, "stand_in_", None)
        return (self if stand_in is None else stand_in)._score(u, i, as_of)

    def _score_users(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """Scores routed per user: the model for users with history, the fallback for cold ones."""
        cold = self.data_.cold[u]
        if not cold.any():
            return np.asarray(self._fitted_score(u, i, as_of), dtype=np.float64)
        out = np.empty((len(u), len(i)), dtype=np.float64)
        if (~cold).any():
            out[~cold] = self._fitted_score(u[~cold], i, as_of)
        out[cold] = self.fallback_.score(u[cold], i)
        return out

    def score(self, user_ids, food_ids=None, *, as_of: date | None = None) -> np.ndarray:
        """Scores for raw user ids x raw food ids (default: every food in mart_food order)."""
        data = self._check_fitted()
        u = data.user_indices(user_ids)
        i = np.arange(data.n_foods) if food_ids is None else data.food_indices(food_ids)
        return self._score_users(u, i, as_of)

    # ------------------------------------------------------------------ recommending
    def recommend(self, user_ids, k: int = 10, *, service_date: date | None = None,
                  dining_type: int | None = None, candidates: Iterable[int] | None = None,
                  exclude: ExcludeSpec = None) -> pd.DataFrame:
        """Top-``k`` foods per user in the shared columns (``columns.RECOMMEND_COLUMNS``).

        With ``service_date`` the candidates are that day's menu of each user's group (meal
        ``dining_type``, default lunch); a user whose group has no menu that day gets no rows.
        Without it, the catalog (foods on sale). ``candidates`` (raw food ids) narrows either;
        ``exclude`` (raw food ids, or user id -> food ids) removes foods. Foods carrying one of
        the user's allergy tags are never returned.
        """
        data = self._check_fitted()
        if int(k) < 1:
            raise KurrantError(f"k must be at least 1, not {k}.")
        raw_users = pd.unique(np.atleast_1d(np.asarray(user_ids, dtype=np.int64)))
        u = data.user_indices(raw_users)
        allowed = None if candidates is None else data.food_indices(list(candidates))
        banned, per_user = _parse_exclude(data, exclude)
        if service_date is None:
            blocks = [(u, data.catalog)]
            as_of, dining_type = None, None
        else:
            service_date = pd.Timestamp(service_date).date()
            dining_type = codes.LUNCH if dining_type is None else int(dining_type)
            groups = data.user_group[u]
            blocks = [(u[groups == g], data.menu_items(g, service_date, dining_type))
                      for g in np.unique(groups)]
            as_of = service_date
        parts = [_EMPTY_BLOCK]
        for bu, items in blocks:
            if allowed is not None:
                items = np.intersect1d(items, allowed)
            if banned is not None:
                items = np.setdiff1d(items, banned)
            rows = max(1, SCORE_BLOCK_CELLS // max(len(items), 1))   # bounds the score matrix
            parts += [self._rank_block(bu[s:s + rows], items, int(k), as_of, per_user)
                      for s in range(0, len(bu), rows)]
        return _as_frame(data, parts, service_date, dining_type)

    def _rank_block(self, u: np.ndarray, items: np.ndarray, k: int, as_of: date | None,
                    per_user: dict[int, np.ndarray]) -> tuple[np.ndarray, ...]:
        """(user idx, food idx, rank, score) of the top-k of one users x candidates block."""
        if len(u) == 0 or len(items) == 0:
            return _EMPTY_BLOCK
        scores = self._score_users(u, items, as_of).copy()
        scores[np.isnan(scores)] = -np.inf
        conflict = (self.data_.user_allergens[u] @ self.data_.food_allergens[items].T).tocoo()
        scores[conflict.row, conflict.col] = -np.inf
        if per_user:
            for row in np.flatnonzero(np.isin(u, list(per_user))):
                scores[row, np.isin(items, per_user[int(u[row])])] = -np.inf
        kk = min(k, len(items))
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < len(items) else \
            np.tile(np.arange(len(items)), (len(u), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        # best first; equal scores keep a stable order by food index
        order = np.lexsort((items[top], -top_scores), axis=-1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        valid = np.isfinite(top_scores)
        ranks = np.broadcast_to(np.arange(1, kk + 1), top.shape)
        return (np.broadcast_to(u[:, None], top.shape)[valid], items[top][valid], ranks[valid],
                top_scores[valid])

    # ------------------------------------------------------------------ explaining
    def explain(self, user_id: int, food_ids: Iterable[int]) -> list[str]:
        """One short 'why' line per food. Models override ``_explain`` for warm users."""
        data = self._check_fitted()
        u = int(data.user_indices([user_id])[0])
        i = data.food_indices(list(food_ids))
        if data.cold[u]:
            return self.fallback_.explain(u, i)
        stand_in = getattr(self, "stand_in_", None)
        if stand_in is not None:
            return [f"{line} ({self.name} unavailable: {self.fallback_reason_})"
                    for line in stand_in._explain(u, i)]
        return self._explain(u, i)

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        scores = self._score_users(np.array([u]), np.arange(self.data_.n_foods), None)[0]
        pct = (scores[None, :] > scores[i][:, None]).mean(axis=1)
        return [f"{self.name} score {scores[f]:.3f} (top {max(p, 0.001):.0%} of all foods for this user)"
                for f, p in zip(i, pct)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> Path:
        """Write the model into the folder ``path``: params.json, training data and state."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self._write_params(folder)
        self.data_.save(folder / DATA_FOLDER)
        _write_state(self, folder)
        return folder

    @classmethod
    def load(cls, path: Path) -> Recommender:
        """The model saved in ``path``, ready to score exactly as when it was saved."""
        folder = Path(path)
        if not (folder / PARAMS_FILE).exists():
            raise KurrantError(f"{folder} holds no saved model ({PARAMS_FILE} missing); retrain it.")
        data = TrainingData.load(folder / DATA_FOLDER)
        model = cls._read_params(folder)
        model.data_ = data
        _read_state(model, folder)
        model.fallback_ = ColdStartFallback.of(data)
        return model

    def _write_params(self, folder: Path) -> None:
        meta = {"model": self.name, "params": self.get_params(), "artifact_version": ARTIFACT_VERSION}
        if getattr(self, "stand_in_", None) is not None:
            meta[FALLBACK_META] = self.fallback_reason_
        (folder / PARAMS_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str))

    @classmethod
    def _read_params(cls, folder: Path) -> Recommender:
        meta = json.loads((folder / PARAMS_FILE).read_text())
        model_cls = cls
        if cls.name != meta["model"]:
            from kurrant_core.models import get_model_class
            model_cls = get_model_class(meta["model"])
            if not issubclass(model_cls, cls):
                raise KurrantError(f"{folder} holds a {meta['model']} model, not {cls.name}.")
        defaults = {p.name: p.default for p in inspect.signature(model_cls.__init__).parameters.values()}
        params = {k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v
                  for k, v in meta["params"].items()}      # JSON has no tuples
        return model_cls(**params)

    def _learned_state(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()
                if k.endswith("_") and not k.startswith("_") and k not in ("data_", "fallback_")}

    def _save_state(self, folder: Path) -> None:
        """Default state writer: arrays -> state.npz, sparse -> <name>.npz, JSON values -> state.json,
        nested recommenders -> <name>/ (sharing this model's data)."""
        arrays, values = {}, {}
        for key, value in self._learned_state().items():
            if isinstance(value, np.ndarray):
                arrays[key] = value
            elif sp.issparse(value):
                sp.save_npz(folder / f"{key}.npz", sp.csr_matrix(value))
            elif isinstance(value, Recommender):
                (folder / key).mkdir(exist_ok=True)
                value._write_params(folder / key)
                _write_state(value, folder / key)
            elif isinstance(value, (int, float, str, bool, list, dict, type(None))):
                values[key] = value
            else:
                raise TypeError(f"{type(self).__name__}.{key} ({type(value).__name__}) cannot be saved "
                                "by the default writer; override _save_state/_load_state.")
        np.savez(folder / STATE_ARRAYS, **arrays)
        (folder / STATE_JSON).write_text(json.dumps(values, ensure_ascii=False))

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / STATE_ARRAYS, allow_pickle=False) as arrays:
            for key in arrays.files:
                setattr(self, key, arrays[key])
        for key, value in json.loads((folder / STATE_JSON).read_text()).items():
            setattr(self, key, value)
        for child in folder.iterdir():
            if child.suffix == ".npz" and child.name not in (STATE_ARRAYS,) and child.stem.endswith("_"):
                setattr(self, child.stem, sp.load_npz(child).tocsr())
            elif child.is_dir() and child.name.endswith("_") and (child / PARAMS_FILE).exists():
                nested = Recommender._read_params(child)
                nested.data_ = self.data_
                _read_state(nested, child)
                nested.fallback_ = getattr(self, "fallback_", None) or ColdStartFallback.of(self.data_)
                setattr(self, child.name, nested)


# ====================================================================== cold start
class ColdStartFallback:
    """What every model answers for a user with no orders before the cutoff.

    Users who filled the taste survey get the content match with their favourite tags (ties
    broken by group popularity); the others get time-decayed popularity within their group.
    """

    def __init__(self, data: TrainingData):
        self.data = data
        self.popularity = fit_group_popularity(data, POPULARITY_HALF_LIFE_DAYS)
        # without taste tags the survey matches nothing: everybody cold gets popularity
        self.surveyed = np.zeros(data.n_users, dtype=bool)
        if data.tag_feature_index:
            self.profiles, self.surveyed, _ = taste_profiles(data, PROFILE_HALF_LIFE_DAYS, SURVEY_WEIGHT,
                                                             OFFER_CORRECTION)

    @classmethod
    def of(cls, data: TrainingData) -> ColdStartFallback:
        """The fallback of ``data``, built once per data set and shared by every model fitted on it
        (it depends on the data alone; on the large world it took 7-13 s per fit, twice per model
        in a retrain with evaluation)."""
        cached = data.__dict__.get("_cold_start_fallback")
        if cached is None:
            cached = data.__dict__["_cold_start_fallback"] = cls(data)
        return cached

    def score(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        pop = group_popularity_scores(*self.popularity, self.data.user_group, u, i)
        peak = pop.max(axis=1, keepdims=True) if pop.size else pop
        pop = np.divide(pop, peak, out=np.zeros_like(pop), where=peak > 0)
        surveyed = self.surveyed[u]
        if surveyed.any():
            pop[surveyed] = (profile_match(self.data, self.profiles, u[surveyed], i)
                             + SURVEY_POPULARITY_TIEBREAK * pop[surveyed])
        return pop

    def explain(self, u: int, i: np.ndarray) -> list[str]:
        if self.surveyed[u]:
            return [f"new user: {line}" for line in
                    explain_profile_match(self.data, self.profiles[u], "your taste survey", i)]
        return ["new user: popular in your group lately" for _ in i]


# ====================================================================== helpers
def _write_state(model: Recommender, folder: Path) -> None:
    """A model with a stand-in holds only the base's state (its stand-in and the reason), so the
    base writer saves it, whatever the subclass's own writer expects (a network, trees)."""
    if getattr(model, "stand_in_", None) is not None:
        Recommender._save_state(model, folder)
    else:
        model._save_state(folder)


def _read_state(model: Recommender, folder: Path) -> None:
    """The reader matching ``_write_state``: params.json says whether the model had a stand-in."""
    meta = json.loads((folder / PARAMS_FILE).read_text())
    if meta.get(FALLBACK_META):
        Recommender._load_state(model, folder)
    else:
        model._load_state(folder)


_EMPTY_BLOCK = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                np.empty(0, dtype=np.float64))


def _parse_exclude(data: TrainingData, exclude: ExcludeSpec) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
    """(food indices removed for everyone, user index -> food indices removed for that user)."""
    if exclude is None:
        return None, {}
    if isinstance(exclude, Mapping):
        per_user = {}
        for user_id, food_ids in exclude.items():
            food_ids = list(food_ids)
            if food_ids:
                known = [f for f in food_ids if int(f) in data.food_index]
                per_user[int(data.user_indices([user_id])[0])] = np.array(
                    [data.food_index[int(f)] for f in known], dtype=np.int64)
        return None, per_user
    known = [data.food_index[int(f)] for f in exclude if int(f) in data.food_index]
    return np.array(known, dtype=np.int64), {}


def _as_frame(data: TrainingData, parts: list[tuple[np.ndarray, ...]], service_date: date | None,
              dining_type: int | None) -> pd.DataFrame:
    u, i, rank, score = (np.concatenate([p[k] for p in parts]) for k in range(4))
    u, i = u.astype(np.int64), i.astype(np.int64)
    n = len(u)
    group = pd.array(data.user_group[u], dtype="Int64")
    group[group < 0] = pd.NA
    return pd.DataFrame({
        C.USER_ID: data.user_ids[u],
        C.GROUP_ID: group,
        C.SERVICE_DATE: pd.Series([service_date] * n, dtype=object),
        C.DINING_TYPE: pd.array([dining_type] * n, dtype="Int64"),
        C.FOOD_ID: data.food_ids[i],
        C.MAKERS_ID: data.food_makers[i],
        C.RANK: rank.astype(np.int64),
        C.SCORE: score.astype(np.float64),
        C.IS_COLD_START: data.cold[u],
    }, columns=C.RECOMMEND_COLUMNS)
