"""Hyper-parameters chosen on a validation window before the cutoff, never on the test window.

For a test split at T (horizon h), the validation window is [T - h, T): candidates are fitted on
the orders served before T - h and judged on the orders of the validation window. Nothing dated
T or later is read: the training data is built for cutoff T - h and the validation items are read
for [T - h, T) only. The winner is then refitted on everything before T by the caller.

The search is small and bounded: each model's grid (``GRIDS``, around its defaults) is tried in a
seeded random order, at most ``max_trials`` points and until ``budget_seconds`` is spent; the
defaults are always tried first, so tuning never does worse than the defaults on validation.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.protocols import (
    catalog_accuracy,
    daily_menu_accuracy,
    rank_daily_menus,
    seen_foods,
    truth_of,
)
from kurrant_core.evaluation.split import TimeSplit, split_data
from kurrant_core.models import make_model

log = logging.getLogger(__name__)

GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {"half_life_days": [7.0, 14.0, 30.0, 60.0]},
    "history": {"half_life_days": [14.0, 30.0, 90.0], "variety_days": [0, 1, 2, 3],
                "variety_strength": [0.25, 0.5, 1.0]},
    "content": {"history_weight": [4.0, 8.0, 16.0], "offer_correction": [0.0, 0.5, 1.0],
                "survey_weight": [1.0, 3.0]},
    "als": {"factors": [32, 64], "regularization": [0.05, 0.1, 1.0], "history_weight": [4.0, 8.0, 16.0],
            "history_half_life_days": [90.0, 365.0]},
    "hybrid": {"max_leaf_nodes": [15], "train_weeks": [4, 8]},
    "ncf": {"history_weight": [5.0, 10.0, 20.0], "lr": [0.003, 0.01]},
    "sequential": {"history_weight": [0.5], "choice_l2": [1.0, 2.0]},
    "tifu": {"alpha": [0.3, 0.5, 0.7], "n_neighbours": [10, 20, 50], "group_size": [3, 7],
             "group_decay": [0.9, 0.98]},
}
"""Per model, the values of its main hyper-parameters to try (names absent from a model's
``__init__`` are ignored, so a grid can run ahead of a model's parameters)."""
CHOSEN = "chosen"
"""Key of the chosen hyper-parameters in a tuning record."""
VALIDATION_FROM, VALIDATION_TO = "validation_from", "validation_to"
"""Keys of the validation window's first and last day in a tuning record."""
FROM_RUN = "from_run"
"""Key of the run a retrain took its tuned hyper-parameters from."""
DEFAULT_MAX_TRIALS = 6
DEFAULT_BUDGET_SECONDS = 60.0
DEFAULT_METRIC = f"{N.DAILY_MENU}:{N.MRR},{N.CATALOG}:{N.at_k(N.NDCG, 10)}"
"""What tuning maximises: the daily-menu MRR (the AI pick of the day) and the catalog NDCG@10
(the date-free lists), each as a ratio to the defaults', averaged: both lists ship."""


@dataclass
class Validation:
    """The validation window's training data and items, built once and shared by every model."""

    window: TimeSplit
    data: TrainingData
    items: pd.DataFrame


@dataclass
class TuningResult:
    """The chosen hyper-parameters and every trial (params, validation score, fit seconds)."""

    model: str
    chosen: dict[str, Any]
    metric: str
    window: TimeSplit
    trials: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What a run's params keep under ``tuning``: shown on the run, reused by retrain."""
        best = max((t[N.METRICS] for t in self.trials if t[N.METRICS] is not None), default=None)
        return {CHOSEN: self.chosen, "metric": self.metric, "score": best,
                VALIDATION_FROM: self.window.cutoff.isoformat(),
                VALIDATION_TO: (self.window.test_end - timedelta(days=1)).isoformat(),
                "trials": len(self.trials)}


def validation_window(test_split: TimeSplit) -> TimeSplit:
    """The ``horizon_days`` just before the test cutoff."""
    return TimeSplit(test_split.cutoff - timedelta(days=test_split.horizon_days), test_split.horizon_days)


def build_validation(engine: sa.Engine, test_split: TimeSplit) -> Validation:
    """Training data before the validation window and the window's paid items (nothing >= T)."""
    window = validation_window(test_split)
    data, items = split_data(engine, window)
    if items[C.SERVICE_DATE].max() >= pd.Timestamp(test_split.cutoff):   # split_data bounds it
        raise KurrantError("validation items reach the test window")
    return Validation(window, data, items)


def grid_points(name: str, max_trials: int, seed: int = 0) -> list[dict[str, Any]]:
    """Up to ``max_trials`` points of ``name``'s grid: the defaults first, then a seeded sample."""
    from kurrant_core.models import get_model_class
    accepted = set(get_model_class(name)._param_names())
    grid = {key: values for key, values in GRIDS.get(name, {}).items() if key in accepted}
    if not grid:
        return [{}]
    keys = sorted(grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[key] for key in keys))]
    order = np.random.default_rng(seed).permutation(len(points))
    return [{}, *[points[j] for j in order[:max(max_trials - 1, 0)]]]


def parse_metric(metric: str) -> list[tuple[str, str]]:
    """``"daily_menu:mrr,catalog:ndcg@10"`` -> [(protocol, key), ...], checked."""
    parts = [part.strip() for part in metric.split(",") if part.strip()]
    pairs = [part.partition(":")[::2] for part in parts]
    if not pairs or any(protocol not in N.PROTOCOLS or not key for protocol, key in pairs):
        raise KurrantError(f"--tune-metric {metric!r}: write PROTOCOL:METRIC[,PROTOCOL:METRIC], e.g. "
                           f"{DEFAULT_METRIC} or {N.CATALOG}:{N.at_k(N.NDCG, 10)}.")
    return pairs


def validation_scores(model_name: str, params: dict[str, Any], validation: Validation, metric: str,
                      k: int, exclude_seen: bool) -> list[float]:
    """Each metric of ``metric`` (see ``parse_metric``) of the model with ``params`` on the
    validation window."""
    pairs = parse_metric(metric)
    model = make_model(model_name, **params).fit(validation.data)
    out = []
    for protocol, key in pairs:
        if protocol == N.DAILY_MENU:
            ranked = rank_daily_menus(model, validation.data, validation.items)
            out.append(float(daily_menu_accuracy(ranked).get(key, float("nan"))))
        else:
            truth = truth_of(validation.items, validation.data, exclude_seen=exclude_seen)
            users = truth[C.USER_ID].unique()
            exclude = seen_foods(validation.data, users) if exclude_seen else None
            recs = model.recommend(users, k, exclude=exclude)
            out.append(float(catalog_accuracy(recs, truth, k).get(key, float("nan"))))
    return out


def validation_score(model_name: str, params: dict[str, Any], validation: Validation, metric: str,
                     k: int, exclude_seen: bool) -> float:
    """``metric`` (one ``protocol:key``) of the model with ``params`` on the validation window."""
    return validation_scores(model_name, params, validation, metric, k, exclude_seen)[0]


def tune_model(model_name: str, validation: Validation, *, base_params: dict[str, Any] | None = None,
               metric: str = DEFAULT_METRIC, k: int = 10, exclude_seen: bool = False,
               max_trials: int = DEFAULT_MAX_TRIALS, budget_seconds: float = DEFAULT_BUDGET_SECONDS,
               seed: int = 0) -> TuningResult:
    """Try ``model_name``'s grid on the validation window; the best point (ties: the earlier).

    With several metrics a point's score is the mean of its metrics' ratios to the defaults'
    (the first trial), so no protocol is traded away for the other. ``base_params`` (e.g. given
    with ``--param``) are kept fixed and override the grid.
    """
    parse_metric(metric)
    base = dict(base_params or {})
    result = TuningResult(model_name, dict(base), metric, validation.window)
    best, reference = -np.inf, None
    started = time.perf_counter()
    for point in grid_points(model_name, max_trials, seed):
        if result.trials and time.perf_counter() - started > budget_seconds:
            log.info("tuning %s: %.0f s budget spent after %d trials", model_name, budget_seconds,
                     len(result.trials))
            break
        params = {**point, **base}
        trial_started = time.perf_counter()
        values = np.array(validation_scores(model_name, params, validation, metric, k, exclude_seen))
        reference = values if reference is None else reference
        score = float(values[0]) if len(values) == 1 else float(np.mean(
            np.divide(values, reference, out=np.zeros_like(values), where=reference > 0)))
        result.trials.append({N.METRICS: None if np.isnan(score) else score, "params": params,
                              "values": [None if np.isnan(v) else float(v) for v in values],
                              N.FIT_SECONDS: time.perf_counter() - trial_started})
        log.info("tuning %s %s: %s = %s", model_name, params, metric, values)
        if score > best:
            best, result.chosen = score, params
    return result


def last_tuning(engine: sa.Engine, model_name: str) -> dict[str, Any] | None:
    """The tuning record of the newest done run of ``model_name`` that carries one (None if no
    run was ever tuned), with ``from_run`` added: what a retrain uses by default."""
    from kurrant_core import schema
    from kurrant_core.runs.records import list_runs  # runs' history reads this module's keys
    runs = list_runs(engine, model_name)
    for row in runs.to_dict("records"):
        if row[schema.rec_run.c.status.name] != schema.RUN_DONE:
            continue
        params = json.loads(row[schema.rec_run.c.params.name] or "{}")
        if isinstance(params.get(N.TUNING), dict) and isinstance(params[N.TUNING].get(CHOSEN), dict):
            return {**params[N.TUNING], FROM_RUN: int(row[C.RUN_ID])}
    return None


def last_tuned_params(engine: sa.Engine, model_name: str) -> dict[str, Any]:
    """The hyper-parameters ``model_name`` was last tuned to ({} when it never was)."""
    record = last_tuning(engine, model_name)
    return dict(record[CHOSEN]) if record else {}

