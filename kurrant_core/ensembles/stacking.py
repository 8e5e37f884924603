"""Stacked weights: the blend's member weights learned on the validation window, per protocol.

The window is the tuning one (``tuning.validation_window``): members are refitted on the orders
served before T - h and judged on [T - h, T), so nothing dated on or after the test cutoff T is
read. Each member's scores are normalised per list (``fusion.normalised``) once; then a small
search over the weight simplex (a grid, equal weights first, refined by moving weight between pairs
of members) maximises the daily-menu MRR for menu lists and the catalog NDCG@k for catalog lists.
Every single member is a vertex of the simplex, so on validation the stack never does worse than
its best member.

A blend that wins on the window it was fitted on may still lose on the next days, so the search is
first checked on a hold-out: weights learned on the window's first half are scored on its second
half against the member that was best on the first half. The blend is kept only when it beats that
member there (``HOLDOUT_MARGIN``); otherwise the stack *is* the best member (its one-hot weights),
so it never ships a blend that did not generalise. (On the demo world no blend of the eight models
beat sequential on the second half, with this search, a conditional logit on four score encodings or
a gradient-boosted stacker; the stack is then sequential.)
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
HOLDOUT_MARGIN = 0.0
"""How much the hold-out blend must beat the best member on the second half to be kept."""
BLEND, BEST_MEMBER = "blend", "best_member"


@dataclass
class StackedWeights:
    """Weights per protocol, the validation window and what they (and each member alone) scored."""

    daily_menu: list[float]
    catalog: list[float]
    window: TimeSplit
    scores: dict[str, float]
    member_scores: dict[str, list[float]]
    holdout: dict[str, dict] = field(default_factory=dict)
    """Per protocol: the hold-out blend's and best member's second-half scores and what was kept."""

    def record(self) -> dict:
        """What an ensemble run keeps in its params."""
        return {N.DAILY_MENU: self.daily_menu, N.CATALOG: self.catalog,
                tuning.VALIDATION_FROM: self.window.cutoff.isoformat(),
                tuning.VALIDATION_TO: (self.window.test_end - timedelta(days=1)).isoformat(),
                "validation_scores": self.scores, "member_validation_scores": self.member_scores,
                "holdout": self.holdout}


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


def guarded_weights(objective_of: Callable[[str], Callable[[np.ndarray], float]], n: int) -> tuple[np.ndarray, dict]:
    """The weights to ship: the full window's search when its first-half weights beat the
    first half's best member on the second half, else the full window's best member alone.
    ``objective_of("first" | "second" | "all")`` is the metric on that part of the window."""
    eye = np.eye(n)
    first, second, whole = objective_of("first"), objective_of("second"), objective_of("all")
    w_first, _ = search_weights(first, n)
    best_first = int(np.argmax([first(e) for e in eye]))
    blend_second, member_second = second(w_first), second(eye[best_first])
    keep_blend = bool(blend_second > member_second + HOLDOUT_MARGIN)
    if keep_blend:
        w, _ = search_weights(whole, n)
    else:
        w = eye[int(np.argmax([whole(e) for e in eye]))]
    return w, {"blend_second_half": blend_second, "best_member_second_half": member_second,
               "best_member_first_half": best_first, "kept": BLEND if keep_blend else BEST_MEMBER}


def _halves(items: pd.DataFrame) -> dict[str, pd.DataFrame]:
    days = np.sort(items[C.SERVICE_DATE].unique())
    middle = days[len(days) // 2] if len(days) > 1 else None
    if middle is None:                          # one day: no hold-out to check on; the whole window twice
        return {"first": items, "second": items, "all": items}
    return {"first": items[items[C.SERVICE_DATE] < middle], "second": items[items[C.SERVICE_DATE] >= middle],
            "all": items}


def _joined(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two ``daily_table`` results as one (the rows of ``a`` first; the narrower padded with NaN):
    what ``daily_table`` gives for both parts' items together, since it builds one row per order."""
    (ta, ca), (tb, cb) = a, b
    width = max(ta.shape[1], tb.shape[1])
    pad = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=np.nan) for t in (ta, tb)]
    return np.concatenate(pad), np.concatenate([ca, cb])


def learn_weights(models: Sequence[Recommender], window: TimeSplit, data, items: pd.DataFrame, *,
                  k: int = 10, labels: Sequence[str] | None = None) -> StackedWeights:
    """Weights per protocol for ``models`` (already fitted on ``data``, the training data before
    the window) from the window's paid ``items``, checked on the window's second half
    (``guarded_weights``)."""
    parts = _halves(items)
    if parts["first"] is parts["second"]:       # one day: one table serves every part
        daily = dict.fromkeys(parts, daily_table(models, data, items))
        catalog = dict.fromkeys(parts, catalog_table(models, data, items))
    else:                                       # the window's menus are its halves' menus: scored once
        daily = {name: daily_table(models, data, parts[name]) for name in ("first", "second")}
        daily["all"] = _joined(daily["first"], daily["second"])
        catalog = {name: catalog_table(models, data, part) for name, part in parts.items()}
    w_daily, daily_check = guarded_weights(lambda p: lambda w: daily_mrr(*daily[p], w), len(models))
    w_catalog, catalog_check = guarded_weights(lambda p: lambda w: catalog_ndcg(*catalog[p], w, k), len(models))
    eye = np.eye(len(models))
    (d_all, chosen), (c_all, relevant) = daily["all"], catalog["all"]
    mrr_key, ndcg_key = f"{N.DAILY_MENU}:{N.MRR}", f"{N.CATALOG}:{N.at_k(N.NDCG, k)}"
    return StackedWeights(
        [round(float(x), 6) for x in w_daily], [round(float(x), 6) for x in w_catalog], window,
        {mrr_key: daily_mrr(d_all, chosen, w_daily), ndcg_key: catalog_ndcg(c_all, relevant, w_catalog, k)},
        {mrr_key: [daily_mrr(d_all, chosen, e) for e in eye],
         ndcg_key: [catalog_ndcg(c_all, relevant, e, k) for e in eye]},
        {mrr_key: daily_check, ndcg_key: catalog_check})


def stacked_weights(engine: sa.Engine, models: Sequence[Recommender], test_split: TimeSplit, *,
                    k: int = 10) -> StackedWeights:
    """Refit (clones of) ``models`` before the validation window of ``test_split`` and learn the
    weights there; reads nothing dated on or after ``test_split.cutoff``."""
    from kurrant_core.models import make_model
    validation = tuning.build_validation(engine, test_split)
    clones = [make_model(m.name, **m.get_params()).fit(validation.data) for m in models]
    return learn_weights(clones, validation.window, validation.data, validation.items, k=k)
