"""The ensemble as a recommender: members' lists fused by a rule, behind the one model contract.

``FusedRanker`` is a ``Recommender`` whose scores are the fusion (``fusion``) of its members'
lists over the candidates being ranked, so everything a run does with a model works unchanged:
``policies.apply_policy`` re-ranks its lists with the ensemble's own policy, the base class applies
the allergy filter, exclusions and top-k after the fusion, the evaluation protocols score it.

Where a member's list comes from, per list (user, service date, meal):

- its **stored rows** when the member run wrote that list (the common case when building an
  ensemble for a member's pre-computed menu days and catalog lists: no model in memory);
- else its **saved (or fitted) model**, scored live over the same candidates (a menu day the run
  did not pre-compute, a user it did not list, and every list during an evaluation).

It also says which member put a food where (``explain_in``: "hybrid #1 · sequential #3").
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd

from kurrant_core import codes, columns as C
from kurrant_core.data import TrainingData
from kurrant_core.ensembles import fusion
from kurrant_core.ensembles.members import (
    MEMBER_RANK,
    MEMBER_RAW,
    SLOT_DATE,
    SLOT_MEAL,
    Member,
    load_member_model,
    slot_key,
)
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender
from kurrant_core.runs import active_user_ids

NOT_LISTED = "–"
"""What a why-line shows for a member that did not list the food."""


class FusedRanker(Recommender):
    """Members fused by ``rule`` (``rrf``, ``blend``, ``stacked``); build with :meth:`from_members`.

    ``weights`` weigh the members (default 1 each); ``catalog_weights`` replace them for the
    date-free catalog lists (the stacked rule learns one set per protocol).
    """

    name = "ensemble"

    def __init__(self, *, rule: str = fusion.RRF, rrf_k: float = fusion.DEFAULT_RRF_K,
                 weights: Sequence[float] | None = None, catalog_weights: Sequence[float] | None = None,
                 random_state: int | None = 0):
        super().__init__(random_state=random_state)
        self.rule = rule
        self.rrf_k = rrf_k
        self.weights = weights
        self.catalog_weights = catalog_weights

    # ------------------------------------------------------------------ building
    @classmethod
    def from_members(cls, members: Sequence[Member], data: TrainingData, *,
                     stored: dict[int, pd.DataFrame] | None = None,
                     models: dict[int, Recommender] | None = None, **params) -> FusedRanker:
        """An ensemble over ``members`` ranking for ``data``'s users and foods.

        ``stored`` maps a member's run id to its rows (``members.read_member_rows``); ``models``
        to its fitted model (else it is loaded from the run's folder when a list is not stored).
        """
        ranker = cls(**params)
        fusion.check_rule(ranker.rule, ranker.rrf_k, ranker.weights, len(members))
        fusion.check_rule(ranker.rule, ranker.rrf_k, ranker.catalog_weights, len(members))
        ranker.members_ = list(members)
        ranker.data_ = data
        ranker.models_ = dict(models or {})
        ranker.slots_ = [_by_slot(data, (stored or {}).get(m.run_id)) for m in members]
        ranker.active_ = np.zeros(data.n_users, dtype=bool)
        ranker.active_[data.user_indices(active_user_ids(data))] = True
        ranker._meal = None
        return ranker

    def fit(self, data: TrainingData) -> FusedRanker:
        """Fit every member model on ``data`` (stacking fits clones on the validation window)."""
        for model in self.models_.values():
            model.fit(data)
        self.data_ = data
        self.slots_ = [{} for _ in self.members_]
        self.active_ = np.zeros(data.n_users, dtype=bool)
        return self

    def _fit(self, data: TrainingData) -> None:       # the contract's hook; ``fit`` does the work
        raise KurrantError("An ensemble is built from its members: use FusedRanker.from_members.")

    # ------------------------------------------------------------------ scoring
    def recommend(self, user_ids, k: int = 10, *, service_date: date | None = None,
                  dining_type: int | None = None, candidates: Iterable[int] | None = None,
                  exclude=None) -> pd.DataFrame:
        """The base class's ranking (allergy filter, exclusions, top-k) of the fused scores; the
        meal is remembered for the scoring below, which the base class calls per group."""
        self._meal = None if service_date is None else (codes.LUNCH if dining_type is None
                                                        else int(dining_type))
        return super().recommend(user_ids, k, service_date=service_date, dining_type=dining_type,
                                 candidates=candidates, exclude=exclude)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        return self._score_users(u, i, as_of)

    def _score_users(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        meal = getattr(self, "_meal", None)
        scores, member_ranks = self.member_tables(u, i, as_of, meal if as_of is not None else None)
        weights = self.catalog_weights if as_of is None and self.catalog_weights is not None \
            else self.weights
        fused = fusion.fuse(self.rule, scores, rrf_k=self.rrf_k, weights=weights,
                            member_ranks=member_ranks)
        return np.where(np.isnan(fused), -np.inf, fused)

    def member_tables(self, u: np.ndarray, i: np.ndarray, as_of: date | None,
                      meal: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per member, its scores and ranks (``len(u) x len(i)``, NaN = not listed) of the list
        (user, ``as_of``, ``meal``): stored rows where the member wrote the list, else its model."""
        slot = slot_key(as_of, meal if meal is not None else codes.LUNCH)
        row_of = np.full(self.data_.n_users, -1, dtype=np.int64)
        row_of[u] = np.arange(len(u))
        col_of = np.full(self.data_.n_foods, -1, dtype=np.int64)
        col_of[i] = np.arange(len(i))
        scores, member_ranks = [], []
        for j, member in enumerate(self.members_):
            s = np.full((len(u), len(i)), np.nan)
            r = np.full((len(u), len(i)), np.nan)
            covered = np.zeros(len(u), dtype=bool)
            rows = self.slots_[j].get(slot)
            if rows is not None:
                users, foods = rows["u"], rows["i"]
                rr, cc = row_of[users], col_of[foods]
                keep = (rr >= 0) & (cc >= 0)
                s[rr[keep], cc[keep]] = rows["raw"][keep]
                r[rr[keep], cc[keep]] = rows["rank"][keep]
                covered[np.unique(rr[rr >= 0])] = True
                covered |= self.active_[u]      # an active user the member left out had nothing to list
            if not covered.all():
                live = ~covered
                s[live] = self._live_scores(j, u[live], i, as_of)
                r[live] = fusion.ranks(s[live])
            scores.append(s)
            member_ranks.append(r)
        return scores, member_ranks

    def _live_scores(self, j: int, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """Member ``j``'s model scores (allergens left out, as its own lists leave them out)."""
        model = self.models_.get(self.members_[j].run_id)
        if model is None:
            model = self.models_[self.members_[j].run_id] = load_member_model(self.members_[j])
        s = np.asarray(model._score_users(u, i, as_of), dtype=float).copy()
        s[~np.isfinite(s)] = np.nan
        conflict = (self.data_.user_allergens[u] @ self.data_.food_allergens[i].T).tocoo()
        s[conflict.row, conflict.col] = np.nan
        return s

    # ------------------------------------------------------------------ explaining
    def explain(self, user_id: int, food_ids: Iterable[int]) -> list[str]:
        return self.explain_in(user_id, food_ids)

    def explain_in(self, user_id: int, food_ids: Iterable[int], *, service_date: date | None = None,
                   dining_type: int | None = None) -> list[str]:
        """Per food, where each member put it in that list: ``hybrid #1 · sequential #3 · content –``."""
        data = self._check_fitted()
        u = data.user_indices([user_id])
        food_ids = [int(f) for f in food_ids]
        if service_date is None:
            items = data.catalog
        else:
            meal = codes.LUNCH if dining_type is None else int(dining_type)
            items = data.menu_items(int(data.user_group[u[0]]), service_date, meal)
        items = np.union1d(items, data.food_indices(food_ids))
        _, member_ranks = self.member_tables(u, items, service_date,
                                             None if service_date is None else
                                             (codes.LUNCH if dining_type is None else int(dining_type)))
        position = {int(f): n for n, f in enumerate(data.food_ids[items])}
        lines = []
        for food in food_ids:
            parts = []
            for member, r in zip(self.members_, member_ranks):
                rank = r[0, position[food]]
                parts.append(f"{member.model} #{int(rank)}" if np.isfinite(rank) else f"{member.model} {NOT_LISTED}")
            lines.append(" · ".join(parts))
        return lines


def _by_slot(data: TrainingData, rows: pd.DataFrame | None) -> dict[tuple, dict[str, np.ndarray]]:
    """A member's rows split per list slot, as index arrays (users and foods the data know)."""
    if rows is None or rows.empty:
        return {}
    known = rows[C.USER_ID].isin(data.user_ids) & rows[C.FOOD_ID].isin(data.food_ids)
    rows = rows[known]
    out = {}
    for (day, meal), part in rows.groupby([SLOT_DATE, SLOT_MEAL], sort=False):
        out[(pd.Timestamp(day), int(meal))] = {
            "u": data.user_indices(part[C.USER_ID].to_numpy()),
            "i": data.food_indices(part[C.FOOD_ID].to_numpy()),
            "raw": part[MEMBER_RAW].to_numpy(float), "rank": part[MEMBER_RANK].to_numpy(float)}
    return out
