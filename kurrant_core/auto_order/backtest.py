"""Backtest the planner on past days: everyone who ordered, as if they had opted in.

The model is fitted before the window (the evaluation's default split: it never sees the days it
plans), each past meal is planned as of its deadline for the users who really ordered it (no price
cap or avoid-list: they set none), and the plan is compared with what they chose. Beside it, the
same model's unconstrained #1 on the same events: the match rate the constraints and the spread
cost is the difference.
"""
from __future__ import annotations

import time as clock
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.auto_order.checks import VIOLATION_KINDS, plan_violations
from kurrant_core.auto_order.inputs import REPLAY, load_inputs
from kurrant_core.auto_order.planner import PlanWeights, plan_meal
from kurrant_core.errors import KurrantError

DEFAULT_MODEL = "sequential"
"""The model the backtest fits by default: the best on the daily-menu protocol (see the note of
the baselines issue); any model name works."""


@dataclass
class BacktestResult:
    """The backtest's figures (``summary``) and one row per planned meal event (``events``)."""

    model: str
    policy: str
    date_from: date
    date_to: date
    events: pd.DataFrame
    violations: dict[str, int]
    seconds: float
    weights: PlanWeights
    group_days: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> dict:
        ev = self.events
        planned = ev[ev[C.FOOD_ID].notna()]
        gd = self.group_days
        return {
            "model": self.model, "policy": self.policy,
            "from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
            "days": int(ev[C.SERVICE_DATE].nunique()) if len(ev) else 0,
            "users": int(ev[C.USER_ID].nunique()) if len(ev) else 0, "events": int(len(ev)),
            "planned": int(len(planned)),
            "match_rate": round(float(ev[C.IS_MATCH].mean()), 4) if len(ev) else None,
            "best_model_hr1": round(float(ev["model_hit"].mean()), 4) if len(ev) else None,
            "policy_hr1": round(float(ev["policy_hit"].mean()), 4) if len(ev) else None,
            "violations": self.violations,
            "distinct_foods_per_group_day": {
                "planned": round(float(gd["planned_distinct"].mean()), 3) if len(gd) else None,
                "actual": round(float(gd["actual_distinct"].mean()), 3) if len(gd) else None},
            "majority_group_days": {
                "planned": round(float(gd["planned_majority"].mean()), 4) if len(gd) else None,
                "actual": round(float(gd["actual_majority"].mean()), 4) if len(gd) else None},
            "weights": asdict(self.weights), "seconds": round(self.seconds, 1)}


def _hits(recs: pd.DataFrame, ordered: pd.Series) -> pd.Series:
    """User -> whether the list's #1 is among the foods they ordered."""
    top = recs[recs[C.RANK] == 1].set_index(C.USER_ID)[C.FOOD_ID]
    return pd.Series({u: bool(u in top.index and int(top[u]) in foods) for u, foods in ordered.items()})


def _group_day(items: pd.DataFrame, ordered: pd.DataFrame, day: date, dining_type: int) -> list[dict]:
    rows = []
    for group, mine in items.dropna(subset=[C.FOOD_ID]).groupby(C.GROUP_ID):
        actual = ordered[ordered[C.USER_ID].isin(mine[C.USER_ID])]
        first = actual.drop_duplicates(C.USER_ID)
        rows.append({C.SERVICE_DATE: day, C.DINING_TYPE: dining_type, C.GROUP_ID: int(group),
                     "users": len(mine), "planned_distinct": int(mine[C.FOOD_ID].nunique()),
                     "actual_distinct": int(actual[C.FOOD_ID].nunique()),
                     "planned_majority": bool(mine[C.FOOD_ID].value_counts().iloc[0] > len(mine) / 2),
                     "actual_majority": bool(len(first) and
                                             first[C.FOOD_ID].value_counts().iloc[0] > len(first) / 2)})
    return rows


def backtest(engine: sa.Engine, *, date_from: date | None = None, date_to: date | None = None,
             model_name: str = DEFAULT_MODEL, params: dict | None = None, policy: str = "default",
             weights: PlanWeights | None = None, progress=None) -> BacktestResult:
    """Plan every meal of [date_from, date_to] for the users who ordered it; see the module doc."""
    from kurrant_core.evaluation.split import TimeSplit, default_split, split_data
    from kurrant_core.evaluation.tuning import last_tuned_params
    from kurrant_core.models import make_model
    from kurrant_core.policies import OFF, apply_policy, get_policy
    started = clock.perf_counter()
    weights = weights or PlanWeights()
    report = progress or (lambda stage, fraction: None)
    split = default_split(engine)
    date_from = date_from or split.cutoff
    date_to = date_to or split.test_end - timedelta(days=1)
    if date_to < date_from:
        raise KurrantError(f"The backtest window ends ({date_to}) before it starts ({date_from}).")
    shipped = get_policy(engine, policy)
    report(f"fitting {model_name} before {date_from}", 0.0)
    data, test = split_data(engine, TimeSplit(date_from, (date_to - date_from).days + 1))
    model = make_model(model_name, **{**last_tuned_params(engine, model_name), **(params or {})}).fit(data)
    names = dict(zip(data.foods[C.FOOD_ID].astype(int), data.foods[C.FOOD_NAME]))
    meals = test.groupby([C.SERVICE_DATE, C.DINING_TYPE], sort=True)
    events, group_days = [], []
    violations = dict.fromkeys(VIOLATION_KINDS, 0)
    for m, ((day, dining_type), orders) in enumerate(meals):
        day, dining_type = pd.Timestamp(day).date(), int(dining_type)
        report(f"planning {day} ({dining_type})", 0.05 + 0.95 * m / max(len(meals), 1))
        users = np.sort(orders[C.USER_ID].unique())
        inputs = load_inputs(engine, day, dining_type, mode=REPLAY, user_ids=users, settings=[],
                             variety_days=weights.variety_days)
        plan = plan_meal(engine, day, dining_type, run_id=0, weights=weights, model=model, policy=shipped,
                         food_names=names, inputs=inputs)
        for kind, n in plan_violations(inputs, plan.items).items():
            violations[kind] += n
        ordered = orders.groupby(C.USER_ID)[C.FOOD_ID].agg(lambda s: {int(x) for x in s})
        raw = model.recommend(users, 1, service_date=day, dining_type=dining_type)
        shipped_lists = raw if shipped.name == OFF else apply_policy(
            model, data, users, 1, shipped, service_date=day, dining_type=dining_type)
        items = plan.items.set_index(C.USER_ID)
        frame = pd.DataFrame({C.USER_ID: ordered.index.astype(int)})
        frame[C.SERVICE_DATE], frame[C.DINING_TYPE] = day, dining_type
        frame[C.GROUP_ID] = items[C.GROUP_ID].reindex(frame[C.USER_ID]).to_numpy()
        frame[C.FOOD_ID] = items[C.FOOD_ID].reindex(frame[C.USER_ID]).to_numpy()
        frame[C.REASON_CODE] = items[C.REASON_CODE].reindex(frame[C.USER_ID]).to_numpy()
        frame[C.IS_MATCH] = [pd.notna(f) and int(f) in ordered[u] for u, f in zip(frame[C.USER_ID], frame[C.FOOD_ID])]
        frame["model_hit"] = _hits(raw, ordered).reindex(frame[C.USER_ID]).fillna(False).to_numpy()
        frame["policy_hit"] = _hits(shipped_lists, ordered).reindex(frame[C.USER_ID]).fillna(False).to_numpy()
        events.append(frame)
        group_days += _group_day(plan.items, orders, day, dining_type)
    report("done", 1.0)
    return BacktestResult(model=model_name, policy=shipped.name, date_from=date_from, date_to=date_to,
                          events=pd.concat(events, ignore_index=True) if events else pd.DataFrame(
                              columns=[C.USER_ID, C.SERVICE_DATE, C.FOOD_ID, C.IS_MATCH, "model_hit", "policy_hit"]),
                          violations=violations, seconds=clock.perf_counter() - started, weights=weights,
                          group_days=pd.DataFrame(group_days))
