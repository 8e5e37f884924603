"""Stacked weights: the blend's member weights learned on the validation window, per protocol.

The window is the tuning one (``tuning.validation_window``): members are refitted on the orders
served before T - h and judged on [T - h, T), so nothing dated on or after the test cutoff T is
read. Each member's scores are normalised per list (``fusion.normalised``) once; then a small
search over the weight simplex (a grid, equal weights first, refined by moving weight between pairs
of members) maximises the daily-menu MRR for menu lists and the catalog NDCG@k for catalog lists.
Every single member is a vertex of the simplex, so on validation the stack never does worse than
its best member.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.ensembles import fusion
from kurrant_core.evaluation import names as N, tuning
from kurrant_core.evaluation.protocols import truth_of
from kurrant_core.evaluation.split import TimeSplit
from kurrant_core.models.base import Recommender

MAX_GRID_POINTS = 200
"""Simplex grid points tried at most (the resolution shrinks as members are added)."""
REFINE_STEPS = 3
"""Rounds of halving the step of the pairwise refinement after the grid."""


@dataclass
class StackedWeights:
    """Weights per protocol, the validation window and what they (and each member alone) scored."""

    daily_menu: list[float]
    catalog: list[float]
    window: TimeSplit
    scores: dict[str, float]
    member_scores: dict[str, list[float]]

    def record(self) -> dict:
        """What an ensemble run keeps in its params."""
        return {N.DAILY_MENU: self.daily_menu, N.CATALOG: self.catalog,
                tuning.VALIDATION_FROM: self.window.cutoff.isoformat(),
                tuning.VALIDATION_TO: (self.window.test_end - timedelta(days=1)).isoformat(),
                "validation_scores": self.scores, "member_validation_scores": self.member_scores}


# ------------------------------------------------------------------------------ score tables
def _allergen_free(data, u: np.ndarray, i: np.ndarray, scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=float).copy()
    s[~np.isfinite(s)] = np.nan
    conflict = (data.user_allergens[u] @ data.food_allergens[i].T).tocoo()
    s[conflict.row, conflict.col] = np.nan
    return s


def daily_table(models: Sequence[Recommender], data, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(events x menu slots x members normalised scores, NaN = not ranked; the chosen slot per event)
    for every validation order whose food was on the group's menu that meal."""
    blocks, chosen = [], []
    for (day, meal), orders in items.groupby([C.SERVICE_DATE, C.DINING_TYPE], sort=True):
        day = pd.Timestamp(day).date()
        users = orders[C.USER_ID].unique()
        u_all = data.user_indices(users)
        groups = data.user_group[u_all]
        for g in np.unique(groups):
            menu = data.menu_items(int(g), day, int(meal))
            if len(menu) == 0:
                continue
            u = u_all[groups == g]
            tables = np.stack([fusion.normalised(_allergen_free(data, u, menu, m._score_users(u, menu, day)))
                               for m in models], axis=-1)                  # users x menu x members
            row_of = {int(x): n for n, x in enumerate(data.user_ids[u])}
            col_of = {int(f): n for n, f in enumerate(data.food_ids[menu])}
            for user, food in orders[[C.USER_ID, C.FOOD_ID]].itertuples(index=False):
                r, c = row_of.get(int(user)), col_of.get(int(food))
                if r is not None and c is not None and not np.isnan(tables[r, c]).all():
                    blocks.append(tables[r])
                    chosen.append(c)
    width = max((len(b) for b in blocks), default=0)
    table = np.full((len(blocks), width, len(models)), np.nan)
    for n, block in enumerate(blocks):
        table[n, :len(block)] = block
    return table, np.asarray(chosen, dtype=np.int64)


def catalog_table(models: Sequence[Recommender], data, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(users x catalog x members normalised scores, users x catalog relevance) of the window."""
    truth = truth_of(items, data)
    users = np.sort(truth[C.USER_ID].unique())
    u, catalog = data.user_indices(users), data.catalog
    table = np.stack([fusion.normalised(_allergen_free(data, u, catalog, m._score_users(u, catalog, None)))
                      for m in models], axis=-1)
    col_of = np.full(data.n_foods, -1)
    col_of[catalog] = np.arange(len(catalog))
    rows = np.searchsorted(users, truth[C.USER_ID].to_numpy())
    cols = col_of[data.food_indices(truth[C.FOOD_ID].to_numpy())]
    relevant = np.zeros((len(users), len(catalog)), dtype=bool)
    relevant[rows[cols >= 0], cols[cols >= 0]] = True
    return table, relevant


# ------------------------------------------------------------------------------ objectives
def _blended(table: np.ndarray, w: np.ndarray) -> np.ndarray:
    listed = ~np.isnan(table).all(axis=-1)
    out = np.nan_to_num(table, nan=0.0) @ w
    out[~listed] = -np.inf
    return out


def daily_mrr(table: np.ndarray, chosen: np.ndarray, w: np.ndarray) -> float:
    """Mean reciprocal rank of the chosen food (ties share their ranks' mean)."""
    if len(chosen) == 0:
        return float("nan")
    scores = _blended(table, w)
    mine = scores[np.arange(len(chosen)), chosen][:, None]
    rank = 1.0 + (scores > mine).sum(axis=1) + 0.5 * ((scores == mine).sum(axis=1) - 1)
    return float(np.mean(1.0 / rank))


def catalog_ndcg(table: np.ndarray, relevant: np.ndarray, w: np.ndarray, k: int) -> float:
    """Mean NDCG@k of the blended catalog lists."""
    if len(relevant) == 0:
        return float("nan")
    scores = _blended(table, w)
    kk = min(k, scores.shape[1])
    top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1)
    gains = np.take_along_axis(relevant, top, axis=1) & np.isfinite(np.take_along_axis(scores, top, axis=1))
    discount = 1.0 / np.log2(np.arange(2, kk + 2))
    ideal = np.cumsum(discount)[np.minimum(relevant.sum(axis=1), kk) - 1]
    return float(np.mean((gains * discount).sum(axis=1) / ideal))


# ------------------------------------------------------------------------------ the search
def simplex_grid(n: int, max_points: int = MAX_GRID_POINTS) -> list[np.ndarray]:
    """Weight vectors summing to 1 on the finest grid with at most ``max_points`` points, equal
    weights first (so that ties keep the plainest blend)."""
    if n == 1:
        return [np.ones(1)]
    resolution = _resolution(n, max_points)
    points = [np.full(n, 1.0 / n)]
    for bars in itertools.combinations(range(resolution + n - 1), n - 1):
        edges = np.diff(np.array([-1, *bars, resolution + n - 1])) - 1
        points.append(edges / resolution)
    return points


def _resolution(n: int, max_points: int = MAX_GRID_POINTS) -> int:
    resolution = 1
    while math.comb(resolution + 1 + n - 1, n - 1) <= max_points and resolution < 20:
        resolution += 1
    return resolution


def search_weights(objective: Callable[[np.ndarray], float], n: int) -> tuple[np.ndarray, float]:
    """The weights (sum 1) that maximise ``objective``: grid, then pairwise refinement."""
    grid = simplex_grid(n)
    best_w, best = grid[0], objective(grid[0])
    for w in grid[1:]:
        value = objective(w)
        if value > best + 1e-12:
            best_w, best = w, value
    step = 0.5 / _resolution(n) if n > 1 else 0.0
    for _ in range(REFINE_STEPS if n > 1 else 0):
        improved = True
        while improved:
            improved = False
            for a, b in itertools.permutations(range(n), 2):
                if best_w[b] < step - 1e-12:
                    continue
                w = best_w.copy()
                w[a] += step
                w[b] -= step
                value = objective(w)
                if value > best + 1e-12:
                    best_w, best, improved = w, value, True
        step /= 2
    return best_w, float(best)


def learn_weights(models: Sequence[Recommender], window: TimeSplit, data, items: pd.DataFrame, *,
                  k: int = 10, labels: Sequence[str] | None = None) -> StackedWeights:
    """Weights per protocol for ``models`` (already fitted on ``data``, the training data before
    the window) from the window's paid ``items``."""
    daily, chosen = daily_table(models, data, items)
    catalog, relevant = catalog_table(models, data, items)
    w_daily, s_daily = search_weights(lambda w: daily_mrr(daily, chosen, w), len(models))
    w_catalog, s_catalog = search_weights(lambda w: catalog_ndcg(catalog, relevant, w, k), len(models))
    eye = np.eye(len(models))
    return StackedWeights(
        [round(float(x), 6) for x in w_daily], [round(float(x), 6) for x in w_catalog], window,
        {f"{N.DAILY_MENU}:{N.MRR}": s_daily, f"{N.CATALOG}:{N.at_k(N.NDCG, k)}": s_catalog},
        {f"{N.DAILY_MENU}:{N.MRR}": [daily_mrr(daily, chosen, e) for e in eye],
         f"{N.CATALOG}:{N.at_k(N.NDCG, k)}": [catalog_ndcg(catalog, relevant, e, k) for e in eye]})


def stacked_weights(engine: sa.Engine, models: Sequence[Recommender], test_split: TimeSplit, *,
                    k: int = 10) -> StackedWeights:
    """Refit (clones of) ``models`` before the validation window of ``test_split`` and learn the
    weights there; reads nothing dated on or after ``test_split.cutoff``."""
    from kurrant_core.models import make_model
    validation = tuning.build_validation(engine, test_split)
    clones = [make_model(m.name, **m.get_params()).fit(validation.data) for m in models]
    return learn_weights(clones, validation.window, validation.data, validation.items, k=k)
