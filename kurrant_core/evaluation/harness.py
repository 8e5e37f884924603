"""The evaluation pipeline: split, fit, rank both protocols, measure, and store each model's run.

An evaluated model is a normal run in the shared format: ``start_run`` (params carry the split),
fit on the training part, save the artifacts, write the catalog lists of every active user,
``finish_run(metrics=...)``. ``rec_run.metrics`` then holds (see ``stored_metrics``)::

    {"evaluation": {"cutoff": "2026-10-17", "cutoffs": [...], "horizon_days": 14, "k": 10},
     "daily_menu": {"hr@1": ..., "hr@3": ..., "mrr": ..., "ndcg": ..., "cold_mrr": ...,
                    "fit_seconds": ..., "score_seconds": ...},
     "catalog": {"recall@10": ..., "ndcg@10": ..., "coverage": ..., "ild": ..., ...},
     "tradeoff": [{"mmr_lambda": 1.0, "ndcg": ..., "ild": ...}, ...]}

With a backtest of N cutoffs every figure is the mean over the N test windows; the run itself
(its lists and artifacts) is the model trained at the latest cutoff.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core import config, results
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.beyond import beyond_accuracy
from kurrant_core.evaluation.protocols import (catalog_accuracy, cold_catalog_accuracy,
                                               daily_menu_accuracy, rank_daily_menus, rounded,
                                               truth_of)
from kurrant_core.evaluation.split import (DEFAULT_HORIZON_DAYS, TimeSplit, backtest_splits,
                                           default_split, split_data)
from kurrant_core.evaluation.tradeoff import mmr_tradeoff
from kurrant_core.models import MODEL_NAMES, make_model, model_available
from kurrant_core.models.base import Recommender
from kurrant_core.schema import RUN_FAILED, RUN_STOPPED

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, float], None]
StopFn = Callable[[], bool]


@dataclass
class ModelScores:
    """What one fitted model earns on one test window."""

    daily_menu: dict[str, float]
    catalog: dict[str, float]
    tradeoff: list[dict[str, float]] = field(default_factory=list)


@dataclass
class ModelEvaluation:
    """One model's evaluation: its run and its (backtest-averaged) scores."""

    model: str
    run_id: int
    split: TimeSplit
    cutoffs: list[str]
    k: int
    scores: ModelScores

    def stored_metrics(self) -> dict[str, Any]:
        """The JSON written into ``rec_run.metrics`` (see the module docstring)."""
        return {N.EVALUATION: {C.DATA_CUTOFF: self.split.cutoff.isoformat(), N.CUTOFFS: self.cutoffs,
                               C.HORIZON_DAYS: self.split.horizon_days, N.K: self.k},
                N.DAILY_MENU: rounded(self.scores.daily_menu), N.CATALOG: rounded(self.scores.catalog),
                N.TRADEOFF: [rounded(point) for point in self.scores.tradeoff]}

    def json_rows(self) -> list[dict[str, Any]]:
        """One object per protocol, as ``evaluate --format json`` prints them."""
        rows = []
        for protocol in N.PROTOCOLS:
            metrics = rounded(getattr(self.scores, protocol))
            rows.append({C.MODEL: self.model, C.PROTOCOL: protocol, C.RUN_ID: self.run_id,
                         C.DATA_CUTOFF: self.split.cutoff.isoformat(),
                         C.HORIZON_DAYS: self.split.horizon_days, N.METRICS: metrics,
                         N.FIT_SECONDS: metrics[N.FIT_SECONDS],
                         N.SCORE_SECONDS: metrics[N.SCORE_SECONDS]})
        return rows


# ------------------------------------------------------------------------------ one fitted model
def score_fitted(model: Recommender, data: TrainingData, test: pd.DataFrame, *, k: int = 10,
                 fit_seconds: float = float("nan"), fit_cpu_seconds: float = float("nan"),
                 with_tradeoff: bool = True) -> ModelScores:
    """Both protocols, beyond-accuracy and (optionally) the MMR trade-off for a fitted model.

    ``test`` holds the test window's paid items (``split.read_test_items``); pure computation,
    nothing is written. The retrain job can call this for a model it trained before a cutoff.
    """
    fit_costs = {N.FIT_SECONDS: fit_seconds, N.FIT_CPU_SECONDS: fit_cpu_seconds}
    started = time.perf_counter()
    daily = daily_menu_accuracy(rank_daily_menus(model, data, test))
    daily.update({**fit_costs, N.SCORE_SECONDS: time.perf_counter() - started})
    truth = truth_of(test)
    started = time.perf_counter()
    recs = model.recommend(truth[C.USER_ID].unique(), k)
    catalog_seconds = time.perf_counter() - started
    catalog = {**catalog_accuracy(recs, truth, k), **cold_catalog_accuracy(recs, truth, data, k),
               **beyond_accuracy(recs, data),
               **fit_costs, N.SCORE_SECONDS: catalog_seconds}
    tradeoff = mmr_tradeoff(model, data, truth, k=k) if with_tradeoff else []
    return ModelScores(daily, catalog, tradeoff)


def mean_scores(folds: Sequence[ModelScores]) -> ModelScores:
    """Backtest average: every metric (and trade-off point) is the mean over the folds."""
    if len(folds) == 1:
        return folds[0]

    def mean(dicts: list[dict[str, float]]) -> dict[str, float]:
        frame = pd.DataFrame(dicts, dtype=float)
        return {key: float(value) for key, value in frame.mean(skipna=True).items()}
    n_points = min(len(f.tradeoff) for f in folds)
    return ModelScores(mean([f.daily_menu for f in folds]), mean([f.catalog for f in folds]),
                       [mean([f.tradeoff[p] for f in folds]) for p in range(n_points)])


# ------------------------------------------------------------------------------ the pipeline
def resolve_models(spec: str | Sequence[str] | None) -> list[str]:
    """``"all"``/None -> every model built here; ``"a,b"`` or a list -> those, validated."""
    if spec is None or spec == "all":
        return [name for name in MODEL_NAMES if model_available(name)]
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        raise KurrantError(f"Unknown model {', '.join(unknown) or '(none given)'}; choose from "
                           f"{', '.join(MODEL_NAMES)} or 'all'.")
    return names


def evaluate(engine: sa.Engine, models: str | Sequence[str] | None = "all", *,
             split: TimeSplit | None = None, horizon_days: int = DEFAULT_HORIZON_DAYS, k: int = 10,
             backtest: int = 1, params: dict[str, dict] | None = None, with_tradeoff: bool = True,
             triggered_by: str | None = "evaluate", job_id: int | None = None,
             progress: ProgressFn | None = None,
             should_stop: StopFn | None = None) -> list[ModelEvaluation]:
    """Evaluate ``models`` on a global time split and store each as a run; their evaluations.

    ``split`` defaults to the last ``horizon_days`` days of orders; ``backtest`` > 1 adds earlier
    cutoffs (one horizon apart) and averages. ``params`` maps a model name to hyper-parameters.
    """
    if k < 1:
        raise KurrantError(f"k must be at least 1, not {k}.")
    names = resolve_models(models)
    params = params or {}
    latest = split or default_split(engine, horizon_days)
    splits = backtest_splits(latest, backtest)
    report = progress or (lambda stage, fraction: None)
    folds: dict[str, list[ModelScores]] = {name: [] for name in names}
    evaluations = []
    steps = len(splits) * len(names)
    for f, fold in enumerate(splits):
        _check_stop(should_stop, None)
        report(f"building training data before {fold.cutoff}", f * len(names) / steps)
        data, test = split_data(engine, fold)
        is_latest = f == len(splits) - 1
        for m, name in enumerate(names):
            _check_stop(should_stop, None)
            report(f"evaluating {name} (cutoff {fold.cutoff})", (f * len(names) + m) / steps)
            model = make_model(name, **params.get(name, {}))
            if not is_latest:
                folds[name].append(_fit_and_score(model, data, test, k, with_tradeoff))
                continue
            evaluations.append(_evaluated_run(engine, model, data, test, folds[name], latest,
                                              [s.cutoff.isoformat() for s in splits], k,
                                              with_tradeoff, triggered_by, job_id, should_stop))
    report("done", 1.0)
    return evaluations


def _fit_and_score(model: Recommender, data: TrainingData, test: pd.DataFrame, k: int,
                   with_tradeoff: bool) -> ModelScores:
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(data)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    log.info("%s fitted in %.1f s (%.1f CPU s)", model.name, fit_seconds, fit_cpu)
    return score_fitted(model, data, test, k=k, fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu,
                        with_tradeoff=with_tradeoff)


def _evaluated_run(engine: sa.Engine, model: Recommender, data: TrainingData, test: pd.DataFrame,
                   earlier: list[ModelScores], split: TimeSplit, cutoffs: list[str], k: int,
                   with_tradeoff: bool, triggered_by: str | None, job_id: int | None,
                   should_stop: StopFn | None) -> ModelEvaluation:
    """Fit at the latest cutoff as a run in the shared format, with the metrics stored in it."""
    served = data.orders[C.SERVICE_DATE]
    run_params = {**model.get_params(),
                  N.EVALUATION: {C.DATA_CUTOFF: split.cutoff.isoformat(),
                                 C.HORIZON_DAYS: split.horizon_days, N.K: k, N.CUTOFFS: cutoffs}}
    run_id = results.start_run(engine, model.name, run_params, data_cutoff=data.cutoff,
                               train_start=served.min().date(), train_end=served.max().date(),
                               triggered_by=triggered_by, job_id=job_id)
    artifact = config.artifact_root() / f"run_{run_id}"
    try:
        scores = _fit_and_score(model, data, test, k, with_tradeoff)
        _check_stop(should_stop, run_id)
        model.save(artifact)
        users = results.active_user_ids(data)
        for start in range(0, len(users), results.USER_BATCH):
            results.write_recommendations(engine, run_id,
                                          model.recommend(users[start:start + results.USER_BATCH], k))
        evaluation = ModelEvaluation(model.name, run_id, split, cutoffs, k,
                                     mean_scores([*earlier, scores]))
        results.finish_run(engine, run_id, metrics=evaluation.stored_metrics(), n_users=data.n_users,
                           n_items=data.n_foods, artifact_path=artifact)
    except BaseException as exc:
        stopped = isinstance(exc, results.RunCancelled)
        results.fail_run(engine, run_id, "cancelled" if stopped else exc,
                         status=RUN_STOPPED if stopped else RUN_FAILED)
        shutil.rmtree(artifact, ignore_errors=True)
        raise
    return evaluation


def _check_stop(should_stop: StopFn | None, run_id: int | None) -> None:
    if should_stop is not None and should_stop():
        raise results.RunCancelled(f"Evaluation run {run_id} was cancelled." if run_id
                                   else "Evaluation was cancelled.")

