"""The evaluation pipeline: split, fit, rank both protocols, measure, and store each model's run.

An evaluated model is a normal run in the shared format, made by the one run pipeline
(``runs.run_pipeline``) from the model fitted on the training part: params carry the split, the
catalog lists of every active user are written as the policy ships them, the metrics are stored
with the run. ``rec_run.metrics`` then holds (see ``stored_metrics``)::

    {"evaluation": {"cutoff": "2026-10-17", "cutoffs": [...], "horizon_days": 14, "k": 10},
     "daily_menu": {"hr@1": ..., "hr@3": ..., "mrr": ..., "ndcg": ..., "cold_mrr": ...,
                    "fit_seconds": ..., "score_seconds": ...},
     "catalog": {"recall@10": ..., "ndcg@10": ..., "coverage": ..., "ild": ..., ...},
     "tradeoff": [{"mmr_lambda": 1.0, "ndcg": ..., "ild": ...}, ...],
     "baseline": false,
     "random": {"daily_menu": {"mrr": ...}, "catalog": {"ndcg@10": ...}},
     "versus_best_baseline": {"daily_menu": {"mrr": {"reference": "history", "diff": ...,
                                                     "low": ..., "high": ..., "beats_baselines": ...}}}}

The baselines (popularity, history and a random ranking in expectation) are evaluated with every
evaluation; each headline metric gets the paired bootstrap interval of the model's difference to
the best baseline (``baselines``). With ``tune`` each model's main hyper-parameters are chosen on
the validation window before the (earliest) cutoff first (``tuning``), and the run's params keep
what was chosen. With a backtest of N cutoffs every figure is the mean over the N test windows,
the intervals pool the (window, user) units; the run itself (its lists and artifacts) is the model
trained at the latest cutoff.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N, tuning
from kurrant_core.evaluation.baselines import compare_to_baselines, is_baseline, pooled
from kurrant_core.evaluation.beyond import beyond_accuracy
from kurrant_core.evaluation.policy_eval import PolicyRanker, convergence_of
from kurrant_core.evaluation.protocols import (
    catalog_accuracy,
    catalog_per_user,
    cold_catalog_accuracy,
    daily_menu_accuracy,
    daily_menu_per_user,
    random_catalog_per_user,
    rank_daily_menus,
    rounded,
    seen_foods,
    truth_of,
)
from kurrant_core.evaluation.split import DEFAULT_HORIZON_DAYS, TimeSplit, backtest_splits, default_split, split_data
from kurrant_core.evaluation.tradeoff import mmr_tradeoff
from kurrant_core.models import BASELINE_NAMES, MODEL_NAMES, make_model, model_available
from kurrant_core.models.base import Recommender
from kurrant_core.policies import BUILTIN, DEFAULT, policy_for_model
from kurrant_core.rerank import OFF, Policy
from kurrant_core.runs.pipeline import ProgressFn, StopFn, check_stop, run_pipeline
from kurrant_core.runs.records import update_run_metrics

log = logging.getLogger(__name__)
NO_RUN = 0
"""``ModelEvaluation.run_id`` while its run is being written."""


@dataclass
class ModelScores:
    """What one fitted model earns on one test window."""

    daily_menu: dict[str, float]
    catalog: dict[str, float]
    tradeoff: list[dict[str, float]] = field(default_factory=list)
    daily_users: pd.DataFrame | None = None
    """Per user: events and metric sums (``protocols.daily_menu_per_user``), for the intervals."""
    catalog_users: pd.DataFrame | None = None
    """Per truth user: catalog metrics (``protocols.catalog_per_user``), for the intervals."""
    convergence: dict[str, float] = field(default_factory=dict)
    """Group-day convergence of the daily #1 picks (``convergence``)."""
    with_policy: ModelScores | None = None
    """The same model's scores with its diversity policy applied (None: not measured)."""


@dataclass
class ModelEvaluation:
    """One model's evaluation: its run and its (backtest-averaged) scores."""

    model: str
    run_id: int
    split: TimeSplit
    cutoffs: list[str]
    k: int
    scores: ModelScores
    versus: dict[str, dict] = field(default_factory=dict)
    """protocol -> metric -> the interval against the best baseline (``baselines``)."""
    random: dict[str, dict] = field(default_factory=dict)
    """protocol -> the random ranking's expected metrics on the same test."""
    exclude_seen: bool = False
    tuned: dict[str, Any] | None = None
    policy: Policy | None = None
    """The diversity policy the ``with_policy`` figures were measured with."""

    @property
    def baseline(self) -> bool:
        return is_baseline(self.model)

    def stored_metrics(self) -> dict[str, Any]:
        """The JSON written into ``rec_run.metrics`` (see the module docstring)."""
        return {N.EVALUATION: {C.DATA_CUTOFF: self.split.cutoff.isoformat(), N.CUTOFFS: self.cutoffs,
                               C.HORIZON_DAYS: self.split.horizon_days, N.K: self.k,
                               N.EXCLUDE_SEEN: self.exclude_seen},
                N.DAILY_MENU: rounded(self.scores.daily_menu), N.CATALOG: rounded(self.scores.catalog),
                N.TRADEOFF: [rounded(point) for point in self.scores.tradeoff],
                N.BASELINE: self.baseline,
                N.CONVERGENCE: rounded(self.scores.convergence),
                **({N.WITH_POLICY: self.policy_metrics()} if self.scores.with_policy else {}),
                N.RANDOM: {protocol: rounded(values) for protocol, values in self.random.items()},
                N.VERSUS_BASELINE: _rounded_intervals(self.versus)}

    def json_rows(self) -> list[dict[str, Any]]:
        """One object per protocol, as ``evaluate --format json`` prints them."""
        rows = []
        for protocol in N.PROTOCOLS:
            metrics = rounded(getattr(self.scores, protocol))
            rows.append({C.MODEL: self.model, C.PROTOCOL: protocol, C.RUN_ID: self.run_id,
                         N.BASELINE: self.baseline, N.POLICY: OFF,
                N.CONVERGENCE: rounded(self.scores.convergence),
                **({N.WITH_POLICY: self.policy_metrics()} if self.scores.with_policy else {}),
                         C.DATA_CUTOFF: self.split.cutoff.isoformat(),
                         C.HORIZON_DAYS: self.split.horizon_days, N.METRICS: metrics,
                         N.VERSUS_BASELINE: _rounded_intervals(self.versus).get(protocol, {}),
                         N.TUNING: self.tuned,
                         N.FIT_SECONDS: metrics[N.FIT_SECONDS],
                         N.SCORE_SECONDS: metrics[N.SCORE_SECONDS]})
            if self.scores.with_policy is not None:
                shipped = rounded(getattr(self.scores.with_policy, protocol))
                rows.append({**rows[-1], N.POLICY: self.policy.name, N.METRICS: shipped,
                             N.VERSUS_BASELINE: {}, N.SCORE_SECONDS: shipped[N.SCORE_SECONDS]})
        return rows

    def policy_metrics(self) -> dict[str, Any]:
        """The figures with the policy applied: which policy, both protocols, convergence."""
        scored = self.scores.with_policy
        return {N.POLICY: self.policy.to_dict() if self.policy else None,
                N.DAILY_MENU: rounded(scored.daily_menu), N.CATALOG: rounded(scored.catalog),
                N.CONVERGENCE: rounded(scored.convergence)}

    def random_json_rows(self) -> list[dict[str, Any]]:
        """The random ranking's rows (no run: an expectation on the same test)."""
        return [{C.MODEL: N.RANDOM, C.PROTOCOL: protocol, C.RUN_ID: None, N.BASELINE: True, N.POLICY: OFF,
                 C.DATA_CUTOFF: self.split.cutoff.isoformat(), C.HORIZON_DAYS: self.split.horizon_days,
                 N.METRICS: rounded(self.random.get(protocol, {})), N.VERSUS_BASELINE: {},
                 N.TUNING: None, N.FIT_SECONDS: 0.0, N.SCORE_SECONDS: 0.0}
                for protocol in N.PROTOCOLS]


def _rounded_intervals(versus: dict[str, dict]) -> dict[str, dict]:
    return {protocol: {metric: {key: (round(v, 6) if isinstance(v, float) and v == v else
                                      (None if isinstance(v, float) else v))
                                for key, v in interval.items()}
                       for metric, interval in metrics.items()}
            for protocol, metrics in versus.items()}


# ------------------------------------------------------------------------------ one fitted model
def score_fitted(model: Recommender, data: TrainingData, test: pd.DataFrame, *, k: int = 10,
                 fit_seconds: float = float("nan"), fit_cpu_seconds: float = float("nan"),
                 with_tradeoff: bool = True, exclude_seen: bool = False,
                 policy: Policy | None = None) -> ModelScores:
    """Both protocols, beyond-accuracy and (optionally) the MMR trade-off for a fitted model.

    ``test`` holds the test window's paid items (``split.read_test_items``); pure computation,
    nothing is written. The retrain job can call this for a model it trained before a cutoff.
    ``exclude_seen`` leaves each user's past foods out of their catalog list and truth (the
    usual protocol of public benchmarks; for lunch, reordering is the target, so it is off).
    ``policy`` (one that re-ranks) also scores the lists as that policy ships them
    (``with_policy``): what the diversity costs in accuracy and gains in variety.
    """
    fit_costs = {N.FIT_SECONDS: fit_seconds, N.FIT_CPU_SECONDS: fit_cpu_seconds}
    started = time.perf_counter()
    ranked = rank_daily_menus(model, data, test)
    daily = daily_menu_accuracy(ranked)
    daily.update({**fit_costs, N.SCORE_SECONDS: time.perf_counter() - started})
    truth = truth_of(test, data, exclude_seen=exclude_seen)
    users = truth[C.USER_ID].unique()
    started = time.perf_counter()
    recs = model.recommend(users, k, exclude=seen_foods(data, users) if exclude_seen else None)
    catalog_seconds = time.perf_counter() - started
    catalog = {**catalog_accuracy(recs, truth, k), **cold_catalog_accuracy(recs, truth, data, k),
               **beyond_accuracy(recs, data),
               **fit_costs, N.SCORE_SECONDS: catalog_seconds}
    tradeoff = mmr_tradeoff(model, data, truth, k=k) if with_tradeoff else []
    scores = ModelScores(daily, catalog, tradeoff, daily_users=daily_menu_per_user(ranked),
                         catalog_users=catalog_per_user(recs, truth, k),
                         convergence=convergence_of(model, data, test))
    if policy is not None and policy.reranks:
        scores.with_policy = score_fitted(PolicyRanker(model, policy), data, test, k=k,
                                          fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu_seconds,
                                          with_tradeoff=False, exclude_seen=exclude_seen)
    return scores


def mean_scores(folds: Sequence[ModelScores]) -> ModelScores:
    """Backtest average: every metric (and trade-off point) is the mean over the folds."""
    if len(folds) == 1:
        return folds[0]

    def mean(dicts: list[dict[str, float]]) -> dict[str, float]:
        frame = pd.DataFrame(dicts, dtype=float)
        return {key: float(value) for key, value in frame.mean(skipna=True).items()}
    n_points = min(len(f.tradeoff) for f in folds)
    policy = [f.with_policy for f in folds if f.with_policy is not None]
    return ModelScores(mean([f.daily_menu for f in folds]), mean([f.catalog for f in folds]),
                       [mean([f.tradeoff[p] for f in folds]) for p in range(n_points)],
                       convergence=mean([f.convergence for f in folds]) if folds[0].convergence else {},
                       with_policy=mean_scores(policy) if len(policy) == len(folds) else None)


# ------------------------------------------------------------------------------ the pipeline
def resolve_models(spec: str | Sequence[str] | None, *, with_baselines: bool = False) -> list[str]:
    """``"all"``/None -> every model built here; ``"a,b"`` or a list -> those, validated.

    ``with_baselines`` puts the fitted baselines (popularity, history) first, whether asked for or
    not: an evaluation always carries them.
    """
    if spec is None or spec == "all":
        names = [name for name in MODEL_NAMES if model_available(name)]
    else:
        names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
        unknown = [n for n in names if n not in MODEL_NAMES]
        if unknown or not names:
            raise KurrantError(f"Unknown model {', '.join(unknown) or '(none given)'}; choose from "
                               f"{', '.join(MODEL_NAMES)} or 'all'.")
        names = list(dict.fromkeys(names))
    if with_baselines:
        names = [*BASELINE_NAMES, *[n for n in names if n not in BASELINE_NAMES]]
    return names


def evaluate(engine: sa.Engine, models: str | Sequence[str] | None = "all", *,
             split: TimeSplit | None = None, horizon_days: int = DEFAULT_HORIZON_DAYS, k: int = 10,
             backtest: int = 1, params: dict[str, dict] | None = None, with_tradeoff: bool = True,
             exclude_seen: bool = False, policy: str | None = DEFAULT,
             tune: bool = False, tune_metric: str = tuning.DEFAULT_METRIC,
             tune_trials: int = tuning.DEFAULT_MAX_TRIALS,
             tune_budget_seconds: float = tuning.DEFAULT_BUDGET_SECONDS,
             triggered_by: str | None = "evaluate", job_id: int | None = None,
             progress: ProgressFn | None = None,
             should_stop: StopFn | None = None) -> list[ModelEvaluation]:
    """Evaluate ``models`` (and the baselines) on a global time split and store each as a run.

    ``split`` defaults to the last ``horizon_days`` days of orders; ``backtest`` > 1 adds earlier
    cutoffs (one horizon apart) and averages. ``params`` maps a model name to hyper-parameters
    (kept fixed when tuning). ``tune`` first picks each model's main hyper-parameters on the
    validation window before the earliest cutoff (never on a test window). ``policy`` (a policy
    name; ``off`` or None to skip) also measures every model's lists as that policy ships them.
    Returns one evaluation per model, each with its interval against the best baseline.
    """
    if k < 1:
        raise KurrantError(f"k must be at least 1, not {k}.")
    names = resolve_models(models, with_baselines=True)
    shipped = {name: policy_for_model(engine, policy, name) for name in names}   # "default": each model's own
    params = {name: dict(values) for name, values in (params or {}).items()}
    latest = split or default_split(engine, horizon_days)
    splits = backtest_splits(latest, backtest)
    report = progress or (lambda stage, fraction: None)
    tuned: dict[str, dict[str, Any]] = {}
    if tune:
        tuned = _tune_all(engine, names, splits[0], params, tune_metric, k, exclude_seen, tune_trials,
                          tune_budget_seconds, report, should_stop)
        params.update({name: result[tuning.CHOSEN] for name, result in tuned.items()})
    folds: dict[str, list[ModelScores]] = {name: [] for name in names}
    random_catalog: list[pd.DataFrame] = []
    evaluations = []
    steps = len(splits) * len(names)
    for f, fold in enumerate(splits):
        check_stop(should_stop, None)
        report(f"building training data before {fold.cutoff}", f * len(names) / steps)
        data, test = split_data(engine, fold)
        truth = truth_of(test, data, exclude_seen=exclude_seen)
        random_catalog.append(random_catalog_per_user(data, truth, k, exclude_seen=exclude_seen))
        is_latest = f == len(splits) - 1
        for m, name in enumerate(names):
            check_stop(should_stop, None)
            report(f"evaluating {name} (cutoff {fold.cutoff})", (f * len(names) + m) / steps)
            model = make_model(name, **params.get(name, {}))
            scores = _fit_and_score(model, data, test, k, with_tradeoff, exclude_seen, shipped[name])
            folds[name].append(scores)
            if is_latest:
                evaluations.append(_evaluated_run(
                    engine, model, data, folds[name], latest, [s.cutoff.isoformat() for s in splits],
                    k, exclude_seen, tuned.get(name), shipped[name], triggered_by, job_id, should_stop))
    report("comparing with the baselines", 0.99)
    versus, random = compare_to_baselines(
        {name: pooled([s.daily_users for s in folds[name]]) for name in names},
        {name: pooled([s.catalog_users for s in folds[name]]) for name in names},
        pooled(random_catalog), k)
    for evaluation in evaluations:
        evaluation.versus, evaluation.random = versus.get(evaluation.model, {}), random
        update_run_metrics(engine, evaluation.run_id, evaluation.stored_metrics())
    report("done", 1.0)
    return evaluations


def _tune_all(engine: sa.Engine, names: list[str], earliest: TimeSplit, params: dict[str, dict],
              metric: str, k: int, exclude_seen: bool, max_trials: int, budget_seconds: float,
              report: ProgressFn, should_stop: StopFn | None) -> dict[str, dict[str, Any]]:
    """Each model's tuning record (see ``tuning.TuningResult.record``), from one validation window."""
    report("building the validation window", 0.0)
    validation = tuning.build_validation(engine, earliest)
    out = {}
    for name in names:
        check_stop(should_stop, None)
        report(f"tuning {name} on {validation.window.cutoff} .. {validation.window.test_end}", 0.0)
        result = tuning.tune_model(name, validation, base_params=params.get(name), metric=metric, k=k,
                                   exclude_seen=exclude_seen, max_trials=max_trials,
                                   budget_seconds=budget_seconds)
        out[name] = result.record()
    return out


def _fit_and_score(model: Recommender, data: TrainingData, test: pd.DataFrame, k: int,
                   with_tradeoff: bool, exclude_seen: bool = False,
                   policy: Policy | None = None) -> ModelScores:
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(data)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    log.info("%s fitted in %.1f s (%.1f CPU s)", model.name, fit_seconds, fit_cpu)
    return score_fitted(model, data, test, k=k, fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu,
                        with_tradeoff=with_tradeoff, exclude_seen=exclude_seen, policy=policy)


def _evaluated_run(engine: sa.Engine, model: Recommender, data: TrainingData, folds: list[ModelScores],
                   split: TimeSplit, cutoffs: list[str], k: int, exclude_seen: bool,
                   tuned: dict[str, Any] | None, policy: Policy | None, triggered_by: str | None,
                   job_id: int | None, should_stop: StopFn | None) -> ModelEvaluation:
    """Store the model fitted at the latest cutoff as a run through the run pipeline (its catalog
    lists as ``policy`` ships them, no menu days), with its metrics (the intervals against the
    baselines are added once every model is scored)."""
    run_params = {**model.get_params(),
                  N.EVALUATION: {C.DATA_CUTOFF: split.cutoff.isoformat(),
                                 C.HORIZON_DAYS: split.horizon_days, N.K: k, N.CUTOFFS: cutoffs,
                                 N.EXCLUDE_SEEN: exclude_seen}}
    if tuned is not None:
        run_params[N.TUNING] = tuned
    evaluation = ModelEvaluation(model.name, NO_RUN, split, cutoffs, k, mean_scores(folds),
                                 exclude_seen=exclude_seen, tuned=tuned, policy=policy)
    run_id = run_pipeline(engine, model, data, params=run_params, k=k, policy=policy or BUILTIN[OFF],
                          dates=[], fit=False, metrics=evaluation.stored_metrics(),
                          triggered_by=triggered_by, job_id=job_id, should_stop=should_stop)
    return replace(evaluation, run_id=run_id)
