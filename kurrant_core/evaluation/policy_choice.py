"""Choosing the default diversity policy by evaluation on the validation window, not by hand.

Every candidate policy (``CANDIDATES``: calibration to the user's category mix, a per-maker cap, a
repeat window, the group spread) is applied to every model fitted before the validation window;
a policy is *within budget* when, for every model, its daily-menu MRR is at most 2 % below the
same model without a policy and its catalog NDCG@10 at most 5 % below. Among those, the ones
whose picks of the day converge no more than users' own orders do (the share of group-days on
which one food is the #1 of more than half the group is at most the share on which one food took
more than half the orders) come first, then those whose catalog lists are as varied as the users'
whole histories (the median top cuisine's share of a list at most the same share of the users'
orders, for every model), else as varied as their last ten meals (a history of a list's length);
the winner has the lowest mean relative catalog calibration error (ties: the higher category
coverage).

``per_model=True`` applies the same rule to each model alone: every model gets the most varied
policy within *its own* budget (on the demo world the history cap keeps sequential's, ALS's,
TIFU's and popularity's budget but not hybrid's, content's or NCF's; ``policies.MODEL_DEFAULTS``).
Validation users are sampled (seeded) to keep the search to minutes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.harness import resolve_models, score_fitted
from kurrant_core.evaluation.policy_eval import PolicyRanker
from kurrant_core.evaluation.split import default_split
from kurrant_core.evaluation.tuning import build_validation, last_tuned_params
from kurrant_core.models import make_model
from kurrant_core.policies import DEFAULT
from kurrant_core.rerank import Policy

MRR_BUDGET = 0.02
NDCG_BUDGET = 0.05
CANDIDATES = [Policy(name=DEFAULT, calibration_lambda=lam, max_per_maker=cap, max_per_category=per_cuisine,
                     repeat_window_days=window, spread_max_share=spread, cap_by_history=by_history)
              for lam in (0.1, 0.2) for cap in (None, 3) for per_cuisine, by_history in ((None, False), (5, False),
                                                                                      (4, False), (None, True))
              for window in (None,) for spread in (0.5,)]
"""The policies tried (the repeat window is left out: eating a food yesterday already lowers it
in every repeat-aware model, and hiding it outright costs the daily pick most; the group spread
is always on, since without it the picks of the day converge more than users' own orders do). A
per-cuisine cap of 5 keeps a top-10 no more one-cuisine than a user's last ten meals (a median of
50 %); 4 goes further; the history cap (``cap_by_history``) bounds each list by its own user's top
share, so only varied users' lists are spread."""
FIGURES = (f"{N.DAILY_MENU} {N.MRR}", f"{N.CATALOG} {N.at_k(N.NDCG, 10)}",
           f"{N.CATALOG} {N.CALIBRATION_ERROR}", f"{N.CATALOG} {N.CATEGORY_COVERAGE}", "majority_pick_days",
           "majority_order_days", f"{N.CATALOG} {N.TOP_CATEGORY_SHARE}",
           f"{N.CATALOG} {N.HISTORY_TOP_CATEGORY_SHARE}", f"{N.CATALOG} {N.WHOLE_HISTORY_TOP_CATEGORY_SHARE}")


@dataclass
class PolicyChoice:
    """Every (policy, model) measured, the chosen policy and each model's own choice."""

    chosen: Policy
    rows: list[dict] = field(default_factory=list)
    per_model: dict[str, Policy | None] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _figures(scores) -> dict[str, float]:
    return {FIGURES[0]: scores.daily_menu[N.MRR], FIGURES[1]: scores.catalog[N.at_k(N.NDCG, 10)],
            FIGURES[2]: scores.catalog[N.CALIBRATION_ERROR], FIGURES[3]: scores.catalog[N.CATEGORY_COVERAGE],
            FIGURES[4]: scores.convergence.get("majority_pick_days", float("nan")),
            FIGURES[5]: scores.convergence.get("majority_order_days", float("nan")),
            FIGURES[6]: scores.catalog.get(N.TOP_CATEGORY_SHARE, float("nan")),
            FIGURES[7]: scores.catalog.get(N.HISTORY_TOP_CATEGORY_SHARE, float("nan")),
            FIGURES[8]: scores.catalog.get(N.WHOLE_HISTORY_TOP_CATEGORY_SHARE, float("nan"))}


def choose_default_policy(engine: sa.Engine, models: str = "all", *, n_users: int = 400,
                          candidates: list[Policy] | None = None, seed: int = 0) -> PolicyChoice:
    """Measure ``candidates`` on the validation window and pick the default (module docstring)."""
    validation = build_validation(engine, default_split(engine))
    items = validation.items
    users = np.sort(items[C.USER_ID].unique())
    if len(users) > n_users:
        users = np.random.default_rng(seed).choice(users, n_users, replace=False)
    items = items[items[C.USER_ID].isin(users)]
    pool = candidates or CANDIDATES
    rows = []
    for name in resolve_models(models):
        model = make_model(name, **last_tuned_params(engine, name)).fit(validation.data)
        off = _figures(score_fitted(model, validation.data, items, with_tradeoff=False))
        rows.append({C.MODEL: name, N.POLICY: "off", CANDIDATE: None, **off})
        for n, policy in enumerate(pool):
            shipped = _figures(score_fitted(PolicyRanker(model, policy), validation.data, items,
                                            with_tradeoff=False))
            rows.append({C.MODEL: name, N.POLICY: policy.steps_text(), CANDIDATE: n, **shipped,
                         "within_budget": within_budget(shipped, off)})
    table = pd.DataFrame(rows)
    best = select_candidate(table)
    return PolicyChoice(Policy(name=DEFAULT) if best is None else pool[best], rows,
                        {model: None if n is None else pool[n] for model, n in select_per_model(table).items()})


CANDIDATE = "candidate"
"""Column of the measured rows: the candidate's position (None for the model without a policy)."""


def within_budget(shipped: dict[str, float], off: dict[str, float]) -> bool:
    """Daily-menu MRR at most 2 % and catalog NDCG@10 at most 5 % below the same model without."""
    return bool(shipped[FIGURES[0]] >= (1 - MRR_BUDGET) * off[FIGURES[0]]
                and shipped[FIGURES[1]] >= (1 - NDCG_BUDGET) * off[FIGURES[1]])


def select_candidate(rows: pd.DataFrame) -> int | None:
    """The winning candidate from the measured rows (one per model and candidate, plus each model's
    ``off`` row): within budget for every model; then, preferably, picks of the day that converge
    no more than users' orders and lists as varied as users' last ten meals, for every model; the
    lowest mean relative calibration error; ties: the higher mean category coverage. None when no
    candidate keeps the budget."""
    off = rows[rows[CANDIDATE].isna()].set_index(C.MODEL)
    shipped = rows[rows[CANDIDATE].notna()].copy()
    if shipped.empty:
        return None
    shipped[CANDIDATE] = shipped[CANDIDATE].astype(int)
    base = off[FIGURES[2]].reindex(shipped[C.MODEL]).to_numpy()
    shipped["_relative_calibration"] = np.where(base > 0, shipped[FIGURES[2]] / np.where(base > 0, base, 1), 1.0)
    shipped["_calm"] = ~(shipped[FIGURES[4]] > shipped[FIGURES[5]])
    shipped["_varied"] = ~(shipped[FIGURES[6]] > shipped[FIGURES[7]])
    shipped["_as_history"] = ~(shipped[FIGURES[6]] > shipped[FIGURES[8]]) if FIGURES[8] in shipped else False
    per = shipped.groupby(CANDIDATE).agg(ok=("within_budget", "all"), calm=("_calm", "all"),
                                         as_history=("_as_history", "all"), varied=("_varied", "all"),
                                         calibration=("_relative_calibration", "mean"), coverage=(FIGURES[3], "mean"))
    ok = per[per["ok"]]
    if ok.empty:
        return None
    calm = ok[ok["calm"]] if ok["calm"].any() else ok
    varied = (calm[calm["as_history"]] if calm["as_history"].any() else
              calm[calm["varied"]] if calm["varied"].any() else calm)
    return int(varied.sort_values(["calibration", "coverage"], ascending=[True, False], kind="stable").index[0])


def select_per_model(rows: pd.DataFrame) -> dict[str, int | None]:
    """``select_candidate`` for each model alone: its most varied candidate within its own budget."""
    return {model: select_candidate(part) for model, part in rows.groupby(C.MODEL, sort=False)}
