"""Choosing the default diversity policy by evaluation on the validation window, not by hand.

Every candidate policy (``CANDIDATES``: calibration to the user's category mix, a per-maker cap, a
repeat window, the group spread) is applied to every model fitted before the validation window;
a policy is *within budget* when, for every model, its daily-menu MRR is at most 2 % below the
same model without a policy and its catalog NDCG@10 at most 5 % below. Among those, the ones
whose picks of the day converge no more than users' own orders do (the share of group-days on
which one food is the #1 of more than half the group is at most the share on which one food took
more than half the orders) come first, then those whose catalog lists are as varied as the users'
own last ten meals (the median top cuisine's share of a list at most the same share in the users'
last ten items, for every model); the winner has the lowest mean relative catalog calibration error
(ties: the higher category coverage).
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
                     repeat_window_days=window, spread_max_share=spread)
              for lam in (0.1, 0.2) for cap in (None, 3) for per_cuisine in (None, 4) for window in (None,)
              for spread in (None, 0.5)]
"""The policies tried (the repeat window is left out: eating a food yesterday already lowers it
in every repeat-aware model, and hiding it outright costs the daily pick most)."""
FIGURES = (f"{N.DAILY_MENU} {N.MRR}", f"{N.CATALOG} {N.at_k(N.NDCG, 10)}",
           f"{N.CATALOG} {N.CALIBRATION_ERROR}", f"{N.CATALOG} {N.CATEGORY_COVERAGE}", "majority_pick_days",
           "majority_order_days", f"{N.CATALOG} {N.TOP_CATEGORY_SHARE}",
           f"{N.CATALOG} {N.HISTORY_TOP_CATEGORY_SHARE}")


@dataclass
class PolicyChoice:
    """Every (policy, model) measured, and the chosen policy."""

    chosen: Policy
    rows: list[dict] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _figures(scores) -> dict[str, float]:
    return {FIGURES[0]: scores.daily_menu[N.MRR], FIGURES[1]: scores.catalog[N.at_k(N.NDCG, 10)],
            FIGURES[2]: scores.catalog[N.CALIBRATION_ERROR], FIGURES[3]: scores.catalog[N.CATEGORY_COVERAGE],
            FIGURES[4]: scores.convergence.get("majority_pick_days", float("nan")),
            FIGURES[5]: scores.convergence.get("majority_order_days", float("nan")),
            FIGURES[6]: scores.catalog.get(N.TOP_CATEGORY_SHARE, float("nan")),
            FIGURES[7]: scores.catalog.get(N.HISTORY_TOP_CATEGORY_SHARE, float("nan"))}


def choose_default_policy(engine: sa.Engine, models: str = "all", *, n_users: int = 400,
                          candidates: list[Policy] | None = None, seed: int = 0) -> PolicyChoice:
    """Measure ``candidates`` on the validation window and pick the default (module docstring)."""
    validation = build_validation(engine, default_split(engine))
    items = validation.items
    users = np.sort(items[C.USER_ID].unique())
    if len(users) > n_users:
        users = np.random.default_rng(seed).choice(users, n_users, replace=False)
    items = items[items[C.USER_ID].isin(users)]
    rows, feasible = [], {}
    for name in resolve_models(models):
        model = make_model(name, **last_tuned_params(engine, name)).fit(validation.data)
        off = _figures(score_fitted(model, validation.data, items, with_tradeoff=False))
        rows.append({C.MODEL: name, N.POLICY: "off", **off})
        for n, policy in enumerate(candidates or CANDIDATES):
            shipped = _figures(score_fitted(PolicyRanker(model, policy), validation.data, items,
                                            with_tradeoff=False))
            within = (shipped[FIGURES[0]] >= (1 - MRR_BUDGET) * off[FIGURES[0]]
                      and shipped[FIGURES[1]] >= (1 - NDCG_BUDGET) * off[FIGURES[1]])
            rows.append({C.MODEL: name, N.POLICY: policy.steps_text(), **shipped, "within_budget": within})
            entry = feasible.setdefault(n, [True, [], [], True, True])
            entry[0] &= within
            entry[1].append(shipped[FIGURES[2]] / off[FIGURES[2]] if off[FIGURES[2]] else 1.0)
            entry[2].append(shipped[FIGURES[3]])
            entry[3] &= not shipped[FIGURES[4]] > shipped[FIGURES[5]]      # no more convergence than users
            entry[4] &= not shipped[FIGURES[6]] > shipped[FIGURES[7]]      # as varied as their last 10 meals
    pool = candidates or CANDIDATES
    ok = [n for n, entry in feasible.items() if entry[0]]
    if not ok:
        return PolicyChoice(Policy(name=DEFAULT), rows)
    calm = [n for n in ok if feasible[n][3]] or ok
    varied = [n for n in calm if feasible[n][4]] or calm
    best = min(varied, key=lambda n: (np.mean(feasible[n][1]), -np.mean(feasible[n][2])))
    return PolicyChoice(pool[best], rows)
