"""Metrics for each run a retrain job trains, in the evaluation harness's stored format.

A run trained before a cutoff that leaves orders after it is scored on those days directly. A run
trained on everything (the usual retrain) has nothing after its cutoff to be judged on, so a twin
with the same hyper-parameters is fitted before the harness's default cutoff (the last
``horizon_days`` of orders) and scored there: the figures then say how this configuration did on
the latest weeks, on the same split the leaderboard uses, so retrained runs join the leaderboard.

On a world with more than ``MAX_TEST_USERS`` test users the job scores a seeded sample of them (the
same sample for every model of the job): on the large world the full test window took 170 s of a
content run's 4 minutes, more than its fit and its lists together. ``evaluate`` (the leaderboard)
still scores every test user.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import (
    DEFAULT_HORIZON_DAYS,
    ModelEvaluation,
    ModelScores,
    TimeSplit,
    default_split,
    read_test_items,
    score_fitted,
    split_data,
)
from kurrant_core.evaluation.baselines import compare_to_baselines
from kurrant_core.evaluation.protocols import random_catalog_per_user, truth_of
from kurrant_core.models import BASELINE_NAMES, make_model
from kurrant_core.models.base import Recommender

log = logging.getLogger(__name__)
UNSTORED_RUN_ID = 0
"""``ModelEvaluation`` wants a run id; ``stored_metrics`` does not use it."""
MAX_TEST_USERS = 3_000
"""Test users a retrain job's evaluation scores at most (a seeded sample above it)."""


class RunEvaluator:
    """``evaluate(model, data) -> metrics`` hook for ``runs.train_and_write``.

    The holdout split and its training data are built once per job and shared by every model.
    """

    def __init__(self, engine: sa.Engine, *, k: int = 10, horizon_days: int = DEFAULT_HORIZON_DAYS,
                 with_tradeoff: bool = True):
        self.engine, self.k, self.horizon_days = engine, k, horizon_days
        self.with_tradeoff = with_tradeoff
        self._holdout: tuple[TimeSplit, TrainingData, pd.DataFrame] | None = None
        self._baselines: dict = {}

    def __call__(self, model: Recommender, data: TrainingData) -> dict[str, Any] | None:
        try:
            split, scored, scored_on, test, fit_s, fit_cpu = self._fitted_for_test(model, data)
        except KurrantError as exc:          # too little data to hold out: the run has no metrics
            log.warning("no evaluation for %s: %s", model.name, exc)
            return None
        return self._metrics(model.name, split, scored, scored_on, test, fit_s, fit_cpu)

    def needs_twin(self, data: TrainingData) -> bool:
        """True when ``data`` leaves no test items after its cutoff: a run on it is judged by a twin
        (``twin_metrics``), which needs the model's hyper-parameters only, not the fitted model."""
        return _after_cutoff(self.engine, data, self.horizon_days)[1].empty

    def twin_metrics(self, model: Recommender) -> dict[str, Any] | None:
        """The metrics of ``model``'s configuration judged by its twin on the holdout split (the
        model itself may be unfitted); None when the data is too short to hold a window out."""
        try:
            split, twin, holdout, test, fit_s, fit_cpu = self._twin(model)
        except KurrantError as exc:
            log.warning("no evaluation for %s: %s", model.name, exc)
            return None
        return self._metrics(model.name, split, twin, holdout, test, fit_s, fit_cpu)

    def _metrics(self, name: str, split: TimeSplit, scored: Recommender, scored_on: TrainingData,
                 test: pd.DataFrame, fit_s: float, fit_cpu: float) -> dict[str, Any]:
        scores = score_fitted(scored, scored_on, test, k=self.k, fit_seconds=fit_s,
                              fit_cpu_seconds=fit_cpu, with_tradeoff=self.with_tradeoff)
        evaluation = ModelEvaluation(name, UNSTORED_RUN_ID, split, [split.cutoff.isoformat()],
                                     self.k, scores)
        evaluation.versus, evaluation.random = self._versus_baselines(name, scores, scored_on, test)
        return evaluation.stored_metrics()

    def _versus_baselines(self, name: str, scores: ModelScores, data: TrainingData,
                          test: pd.DataFrame) -> tuple[dict, dict]:
        """The model's intervals against the best baseline, the baselines fitted once per split
        (as ``evaluate`` does, so a retrained run's row on the leaderboard carries them too)."""
        key = data.cutoff
        if key not in self._baselines:
            fitted = {b: scores if b == name else score_fitted(make_model(b).fit(data), data, test,
                                                                   k=self.k, with_tradeoff=False)
                      for b in BASELINE_NAMES}
            truth = truth_of(test, data)
            self._baselines[key] = (fitted, random_catalog_per_user(data, truth, self.k))
        fitted, random_catalog = self._baselines[key]
        everyone = {**fitted, name: scores}
        versus, random = compare_to_baselines({m: s.daily_users for m, s in everyone.items()},
                                              {m: s.catalog_users for m, s in everyone.items()},
                                              random_catalog, self.k, only=[name])
        return versus.get(name, {}), random

    def _fitted_for_test(self, model: Recommender, data: TrainingData):
        after, test = _after_cutoff(self.engine, data, self.horizon_days)
        if not test.empty:
            return after, model, data, test, float("nan"), float("nan")
        return self._twin(model)

    def _twin(self, model: Recommender):
        """A twin of ``model`` (same hyper-parameters) fitted on the holdout split, and its seconds."""
        split, holdout, test = self.holdout()
        twin = make_model(model.name, **model.get_params())
        started, cpu_started = time.perf_counter(), time.process_time()
        twin.fit(holdout)
        return (split, twin, holdout, test, time.perf_counter() - started,
                time.process_time() - cpu_started)

    def holdout(self) -> tuple[TimeSplit, TrainingData, pd.DataFrame]:
        """The harness's default split (last ``horizon_days`` days), its training data and test."""
        if self._holdout is None:
            split = default_split(self.engine, self.horizon_days)
            data, test = split_data(self.engine, split)
            self._holdout = (split, data, sampled_users(test))
        return self._holdout


def sampled_users(test: pd.DataFrame, max_users: int = MAX_TEST_USERS, seed: int = 0) -> pd.DataFrame:
    """The test items of at most ``max_users`` users (a seeded sample; every item of each)."""
    users = test[C.USER_ID].unique()
    if len(users) <= max_users:
        return test
    keep = np.random.default_rng(seed).choice(np.sort(users), size=max_users, replace=False)
    log.info("evaluating on %d of the %d test users (a seeded sample)", max_users, len(users))
    return test[test[C.USER_ID].isin(keep)].reset_index(drop=True)


def _after_cutoff(engine: sa.Engine, data: TrainingData, horizon_days: int) -> tuple[TimeSplit, pd.DataFrame]:
    """The window after ``data``'s cutoff and its (sampled) test items of known users and foods."""
    after = TimeSplit(data.cutoff, horizon_days)
    return after, sampled_users(_known(read_test_items(engine, after), data))


def _known(test: pd.DataFrame, data: TrainingData) -> pd.DataFrame:
    """Test items of users and foods the training data knows (as ``split_data`` keeps them)."""
    keep = test[C.USER_ID].isin(data.user_ids) & test[C.FOOD_ID].isin(data.food_ids)
    return test[keep].reset_index(drop=True)
