"""Plan one service date and meal: one food per opted-in user, every hard rule kept, best in total.

Hard rules (a pair that breaks one is never a candidate): the user's group menu of that meal, no
food carrying one of the user's allergens, the user's price cap, avoided foods and makers, and the
portions left of each food and maker (capacity minus what is ordered). The objective
(``solver.objective``) is the run's preference with its diversity policy, less a variety penalty for
foods the user had on their last service days, less a spread penalty for users beyond a share of
their group on the same food; it is solved for all users at once, and the greedy answer is kept
beside it so the plan shows what the optimiser bought.
"""
from __future__ import annotations

import time as clock
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.auto_order import solver
from kurrant_core.auto_order.inputs import PREVIEW, PlanInputs, load_inputs
from kurrant_core.auto_order.preferences import model_preferences, stored_preferences
from kurrant_core.errors import KurrantError

# why a user got the food they got, or none ------------------------------------------------------
TOP_PICK = "top_pick"
NEXT_BEST_CAPACITY = "capacity"
NEXT_BEST_VARIETY = "variety"
NEXT_BEST_SPREAD = "spread"
NEXT_BEST_RULES = "rules"
NO_PREFERENCE = "no_preference"
NO_MENU = "no_menu"
ALL_ALLERGENS = "allergy"
ALL_OVER_PRICE = "price"
ALL_AVOIDED = "avoided"
ALL_SOLD_OUT = "sold_out"
CAPACITY_TAKEN = "capacity_taken"
UNPLANNED = (NO_MENU, ALL_ALLERGENS, ALL_OVER_PRICE, ALL_AVOIDED, ALL_SOLD_OUT, CAPACITY_TAKEN)
REASON_TEXT = {
    TOP_PICK: "AI 추천 1순위",
    NEXT_BEST_CAPACITY: "1순위 {top}의 남은 수량이 없어 {rank}순위",
    NEXT_BEST_VARIETY: "최근에 먹은 {top} 대신 {rank}순위 (다양성)",
    NEXT_BEST_SPREAD: "같은 고객사 다수가 {top}에 몰려 {rank}순위 (분산)",
    NEXT_BEST_RULES: "1순위 {top}은(는) 가격 상한·기피 설정에 걸려 {rank}순위",
    NO_PREFERENCE: "이 모델이 모르는 사용자: 고객사 분산으로 선택",
    NO_MENU: "고객사에 이 식사의 메뉴가 없음",
    ALL_ALLERGENS: "모든 메뉴에 알레르기 성분이 있음",
    ALL_OVER_PRICE: "모든 메뉴가 가격 상한({max_price:,}원)을 넘음",
    ALL_AVOIDED: "모든 메뉴가 기피 음식·메이커스",
    ALL_SOLD_OUT: "가능한 메뉴의 남은 수량이 없음",
    CAPACITY_TAKEN: "가능한 메뉴의 남은 수량을 다른 사용자가 먼저 배정받음",
}
"""Reason code -> the readable (Korean) line shown on the page and stored with the plan."""


@dataclass(frozen=True)
class PlanWeights:
    """The objective's knobs beside the preference (which is scaled to 0..1 per user)."""

    variety_days: int = 2
    variety_penalty: float = 0.3
    spread_share: float = 0.5
    spread_penalty: float = 0.3

    def __post_init__(self) -> None:
        if self.variety_days < 0 or self.variety_penalty < 0 or self.spread_penalty < 0:
            raise KurrantError("Plan weights cannot be negative.", key="err.plan_weights")
        if not 0 < self.spread_share <= 1:
            raise KurrantError(f"spread_share must be in (0, 1], not {self.spread_share}.",
                               key="err.spread_share", value=self.spread_share)


@dataclass
class Plan:
    """A planned date and meal: one row per planned user (food or none, and why) and the figures."""

    run_id: int
    service_date: object
    dining_type: int
    as_of: datetime
    mode: str
    items: pd.DataFrame
    objective: float
    greedy_objective: float
    seconds: float
    weights: PlanWeights
    n_already_ordered: int = 0
    violations: dict = field(default_factory=dict)
    inputs: PlanInputs | None = None                 # what it was planned from (not stored)

    @property
    def n_users(self) -> int:
        return len(self.items)

    @property
    def n_planned(self) -> int:
        return int(self.items[C.FOOD_ID].notna().sum())

    def params(self) -> dict:
        return {"weights": asdict(self.weights), "objective": round(self.objective, 6),
                "greedy_objective": round(self.greedy_objective, 6), "seconds": round(self.seconds, 3),
                "already_ordered": self.n_already_ordered, "violations": self.violations}


ITEM_COLUMNS = [C.USER_ID, C.GROUP_ID, C.DAILY_FOOD_ID, C.FOOD_ID, C.MAKERS_ID, C.PRICE, C.SCORE, C.RANK,
                C.REASON_CODE, C.REASON]


def _tags(value) -> frozenset[int]:
    return frozenset(codes.parse_codes(value))


def _candidate_pairs(inputs: PlanInputs) -> tuple[pd.DataFrame, dict[int, str]]:
    """Every (user, menu food) pair that keeps the hard rules, and the reason of each user left
    with none (the first rule that emptied their menu)."""
    users = inputs.users[[C.USER_ID, C.GROUP_ID, C.ALLERGY_TAGS]]
    pairs = users.merge(inputs.menu.rename(columns={C.ALLERGY_TAGS: "_food_allergens"}),
                        on=C.GROUP_ID, how="inner", suffixes=("", "_f"))
    reasons: dict[int, str] = {}

    def drop(mask: np.ndarray, code: str) -> None:
        nonlocal pairs
        before = set(pairs[C.USER_ID].astype(int))
        pairs = pairs[~mask].reset_index(drop=True)
        for user in before - set(pairs[C.USER_ID].astype(int)):
            reasons[user] = code

    for user in set(users[C.USER_ID].astype(int)) - set(pairs[C.USER_ID].astype(int)):
        reasons[user] = NO_MENU
    user_tags = {u: _tags(t) for u, t in zip(users[C.USER_ID].astype(int), users[C.ALLERGY_TAGS])}
    food_tags = {f: _tags(t) for f, t in zip(inputs.menu[C.FOOD_ID].astype(int), inputs.menu[C.ALLERGY_TAGS])}
    drop(np.array([bool(user_tags[u] & food_tags[f]) for u, f in
                   zip(pairs[C.USER_ID].astype(int), pairs[C.FOOD_ID].astype(int))], dtype=bool), ALL_ALLERGENS)
    cap = np.array([inputs.settings[u].max_price if u in inputs.settings and inputs.settings[u].max_price
                    else np.inf for u in pairs[C.USER_ID].astype(int)], dtype=float)
    drop(pairs[C.PRICE].to_numpy(dtype=float) > cap, ALL_OVER_PRICE)
    avoided = np.array([u in inputs.settings and (f in inputs.settings[u].avoid_food_ids
                                                  or m in inputs.settings[u].avoid_makers_ids)
                        for u, f, m in zip(pairs[C.USER_ID].astype(int), pairs[C.FOOD_ID].astype(int),
                                           pairs[C.MAKERS_ID].astype(int))], dtype=bool)
    drop(avoided, ALL_AVOIDED)
    food_room = pairs[C.FOOD_ID].map(inputs.food_room).fillna(solver.UNLIMITED).to_numpy()
    maker_room = pairs[C.MAKERS_ID].map(inputs.maker_room).fillna(solver.UNLIMITED).to_numpy()
    drop((food_room <= 0) | (maker_room <= 0), ALL_SOLD_OUT)
    return pairs.drop(columns=["_food_allergens", C.ALLERGY_TAGS, C.FOOD_NAME, C.MAKERS_NAME],
                      errors="ignore"), reasons


def _preferences(engine: sa.Engine, run_id: int, inputs: PlanInputs, users: list[int], model=None,
                 policy=None, load_model=None) -> pd.DataFrame:
    """USER_ID, FOOD_ID, RANK, PREFERENCE for ``users`` (those with a feasible food): the run's
    stored rows first, its saved model for the rest (``load_model()`` when given: a server's
    cached copy, asked for only when the rows fall short)."""
    parts = [] if model is not None else [stored_preferences(engine, run_id, inputs.service_date,
                                                             inputs.dining_type, users)]
    missing = sorted(set(users) - set(parts[0][C.USER_ID].astype(int))) if parts else users
    if missing:
        if model is None:
            from kurrant_core import policies, runs
            from kurrant_core.compare.runs import load_run_model
            model = load_model() if load_model is not None else load_run_model(engine, run_id)
            policy = policies.run_policy(runs.get_run(engine, run_id).params)
        menu_size = int(inputs.menu.groupby(C.GROUP_ID).size().max())
        parts.append(model_preferences(model, policy, missing, inputs.service_date, inputs.dining_type,
                                       menu_size))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[C.USER_ID, C.FOOD_ID, C.RANK, C.PREFERENCE])


def build_problem(inputs: PlanInputs, pairs: pd.DataFrame, prefs: pd.DataFrame,
                  weights: PlanWeights) -> tuple[solver.Problem, pd.DataFrame, np.ndarray, np.ndarray]:
    """The solver's problem for these pairs; also the pairs with their preference, the user ids
    and the food ids the positions stand for."""
    pairs = pairs.merge(prefs, on=[C.USER_ID, C.FOOD_ID], how="left")
    pairs[C.PREFERENCE] = pairs[C.PREFERENCE].fillna(0.0)
    recent = set(zip(inputs.recent[C.USER_ID].astype(int), inputs.recent[C.FOOD_ID].astype(int)))
    pairs["_recent"] = [(u, f) in recent for u, f in zip(pairs[C.USER_ID].astype(int), pairs[C.FOOD_ID].astype(int))]
    value = pairs[C.PREFERENCE].to_numpy(dtype=float) - weights.variety_penalty * pairs["_recent"].to_numpy()
    user_ids = np.sort(inputs.users[C.USER_ID].to_numpy(dtype=np.int64))
    food_ids = np.sort(inputs.menu[C.FOOD_ID].unique().astype(np.int64))
    maker_ids = np.sort(inputs.menu[C.MAKERS_ID].unique().astype(np.int64))
    food_maker = inputs.menu.drop_duplicates(C.FOOD_ID).set_index(C.FOOD_ID)[C.MAKERS_ID]
    groups = inputs.users.set_index(C.USER_ID)[C.GROUP_ID].reindex(user_ids).fillna(-1).to_numpy(np.int64)
    group_ids, user_group = np.unique(groups, return_inverse=True)
    user_pos = np.searchsorted(user_ids, pairs[C.USER_ID].to_numpy(dtype=np.int64))
    per_group = np.bincount(user_group[np.unique(user_pos)], minlength=len(group_ids))
    free = np.maximum(1, np.ceil(weights.spread_share * per_group)).astype(np.int64)
    problem = solver.Problem(
        user=user_pos, food=np.searchsorted(food_ids, pairs[C.FOOD_ID].to_numpy(dtype=np.int64)), value=value,
        user_group=user_group.ravel(),
        food_maker=np.searchsorted(maker_ids, food_maker.reindex(food_ids).to_numpy(dtype=np.int64)),
        food_room=inputs.food_room.reindex(food_ids).fillna(solver.UNLIMITED).to_numpy(dtype=np.int64),
        maker_room=inputs.maker_room.reindex(maker_ids).fillna(solver.UNLIMITED).to_numpy(dtype=np.int64),
        spread_free=free, spread_penalty=weights.spread_penalty)
    return problem, pairs, user_ids, food_ids


def _pick_reasons(picked: pd.DataFrame, options: pd.DataFrame, full_after: set[int],
                  names: dict[int, str]) -> tuple[list[str], list[str]]:
    """Why each picked food (codes and lines): the user's top food, or why the plan moved them off
    it (rules, capacity, variety, else the group's spread). ``options`` holds every ranked food
    of the planned users with ``_feasible`` and ``_recent``."""
    ranked = options.sort_values([C.USER_ID, C.RANK, C.PREFERENCE], ascending=[True, True, False])
    top = ranked.drop_duplicates(C.USER_ID).set_index(C.USER_ID)
    liked = options.groupby(C.USER_ID)[C.PREFERENCE].max() > 0
    codes_, texts = [], []
    for user, food, rank in zip(picked[C.USER_ID].astype(int), picked[C.FOOD_ID].astype(int), picked[C.RANK]):
        if user not in top.index or not liked.get(user, False):
            code = NO_PREFERENCE
        else:
            best = top.loc[user]
            if int(best[C.FOOD_ID]) == food:
                code = TOP_PICK
            elif not bool(best["_feasible"]):
                code = NEXT_BEST_RULES
            elif int(best[C.FOOD_ID]) in full_after:
                code = NEXT_BEST_CAPACITY
            elif bool(best["_recent"]):
                code = NEXT_BEST_VARIETY
            else:
                code = NEXT_BEST_SPREAD
        codes_.append(code)
        if code in (TOP_PICK, NO_PREFERENCE):
            texts.append(REASON_TEXT[code])
        else:
            best_food = int(top.at[user, C.FOOD_ID])
            texts.append(REASON_TEXT[code].format(top=names.get(best_food, str(best_food)),
                                                  rank=int(rank) if pd.notna(rank) else "?"))
    return codes_, texts


def plan_meal(engine: sa.Engine, service_date, dining_type, *, run_id: int, as_of: datetime | None = None,
              mode: str = PREVIEW, weights: PlanWeights | None = None, user_ids=None, settings=None,
              model=None, policy=None, food_names: dict[int, str] | None = None,
              inputs: PlanInputs | None = None, load_model=None) -> Plan:
    """Plan one date and meal for the opted-in users (or ``user_ids``) with run ``run_id``'s
    preferences; nothing is written (see ``store.save_plan``). ``model`` (with ``policy``) scores
    everyone; otherwise the run's stored lists serve where they cover the date and the saved model
    (``load_model()`` if given, e.g. a server's cached copy) the rest."""
    started = clock.perf_counter()
    weights = weights or PlanWeights()
    if inputs is None:
        inputs = load_inputs(engine, service_date, dining_type, as_of=as_of, mode=mode, user_ids=user_ids,
                             settings=settings, variety_days=weights.variety_days)
    pairs, reasons = _candidate_pairs(inputs)
    prefs = _preferences(engine, run_id, inputs, sorted(set(pairs[C.USER_ID].astype(int))), model,
                         policy, load_model) if len(pairs) else pd.DataFrame(
        columns=[C.USER_ID, C.FOOD_ID, C.RANK, C.PREFERENCE])
    problem, pairs, user_ids_sorted, food_ids = build_problem(inputs, pairs, prefs, weights)
    chosen = solver.solve_optimal(problem)
    greedy = solver.solve_greedy(problem)
    names = food_names or dict(zip(inputs.menu[C.FOOD_ID].astype(int), inputs.menu[C.FOOD_NAME]))
    items = _items(inputs, pairs, prefs, problem, chosen, reasons, names)
    return Plan(run_id=int(run_id), service_date=inputs.service_date, dining_type=inputs.dining_type,
                as_of=inputs.as_of, mode=inputs.mode, items=items,
                objective=solver.objective(problem, chosen), greedy_objective=solver.objective(problem, greedy),
                seconds=clock.perf_counter() - started, weights=weights,
                n_already_ordered=inputs.n_already_ordered, violations=solver.violations(problem, chosen),
                inputs=inputs)


def _items(inputs: PlanInputs, pairs: pd.DataFrame, prefs: pd.DataFrame, problem: solver.Problem,
           chosen: np.ndarray, reasons: dict[int, str], names: dict[int, str]) -> pd.DataFrame:
    picked = pairs.iloc[chosen]
    per_food = picked.groupby(C.FOOD_ID).size()
    per_maker = picked.groupby(C.MAKERS_ID).size()
    full_after = {int(f) for f, n in per_food.items() if n >= inputs.food_room.get(f, solver.UNLIMITED)}
    full_makers = {int(m) for m, n in per_maker.items() if n >= inputs.maker_room.get(m, solver.UNLIMITED)}
    full_after |= set(inputs.menu.loc[inputs.menu[C.MAKERS_ID].isin(full_makers), C.FOOD_ID].astype(int))
    feasible = set(zip(pairs[C.USER_ID].astype(int), pairs[C.FOOD_ID].astype(int)))
    recent = set(zip(inputs.recent[C.USER_ID].astype(int), inputs.recent[C.FOOD_ID].astype(int)))
    options = prefs.assign(_feasible=[(u, f) in feasible for u, f in
                                      zip(prefs[C.USER_ID].astype(int), prefs[C.FOOD_ID].astype(int))],
                           _recent=[(u, f) in recent for u, f in
                                    zip(prefs[C.USER_ID].astype(int), prefs[C.FOOD_ID].astype(int))])
    codes_, texts = _pick_reasons(picked, options, full_after, names)
    rows = [{C.USER_ID: int(u), C.GROUP_ID: g, C.DAILY_FOOD_ID: int(d), C.FOOD_ID: int(f), C.MAKERS_ID: int(m),
             C.PRICE: int(p), C.SCORE: float(v), C.RANK: r, C.REASON_CODE: code, C.REASON: text}
            for u, g, d, f, m, p, v, r, code, text in zip(
                picked[C.USER_ID], picked[C.GROUP_ID], picked[C.DAILY_FOOD_ID], picked[C.FOOD_ID],
                picked[C.MAKERS_ID], picked[C.PRICE], problem.value[chosen], picked[C.RANK], codes_, texts)]
    planned = {r[C.USER_ID] for r in rows}
    group_of = inputs.users.set_index(C.USER_ID)[C.GROUP_ID]
    for user in inputs.users[C.USER_ID].astype(int):
        if user in planned:
            continue
        code = reasons.get(user, CAPACITY_TAKEN)
        setting = inputs.settings.get(user)
        text = REASON_TEXT[code].format(max_price=(setting.max_price or 0) if setting else 0)
        rows.append({C.USER_ID: user, C.GROUP_ID: group_of.get(user), C.DAILY_FOOD_ID: None, C.FOOD_ID: None,
                     C.MAKERS_ID: None, C.PRICE: None, C.SCORE: None, C.RANK: None, C.REASON_CODE: code,
                     C.REASON: text})
    items = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    for col in (C.GROUP_ID, C.DAILY_FOOD_ID, C.FOOD_ID, C.MAKERS_ID, C.PRICE, C.RANK):
        items[col] = pd.to_numeric(items[col]).astype("Int64")
    items[C.SCORE] = pd.to_numeric(items[C.SCORE]).astype(float)
    items = items.sort_values(C.USER_ID, kind="stable").reset_index(drop=True)
    if inputs.mode != PREVIEW or len(inputs.ordered):
        actual = inputs.ordered.groupby(C.USER_ID)[C.FOOD_ID].agg(lambda s: sorted(int(x) for x in s))
        items[C.ORDERED_FOOD_IDS] = items[C.USER_ID].map(actual)
        items[C.IS_MATCH] = [isinstance(a, list) and pd.notna(f) and int(f) in a
                             for f, a in zip(items[C.FOOD_ID], items[C.ORDERED_FOOD_IDS])]
    return items
