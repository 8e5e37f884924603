"""Diversity policies: saved, named re-rank settings, and the step that applies one to a model.

A run is a model plus a policy. The lists a run writes (catalog and menu days) are the model's
top ``policy.pool`` candidates re-ranked by the policy (``rerank``), so the rows the backend reads
are the lists as shipped; the model's own score stays beside the final one (``raw_score``) so
the cost of the policy can be measured. With ``spread_max_share`` on, one group's menu day is
also spread across its users: no food is the #1 pick of more than that share of them (the users
who give up least move to their next food), which keeps one maker from being overloaded.

Policies live in ``rec_policy`` (name -> versioned JSON); ``off`` and ``default`` are built in,
and a stored ``default`` (e.g. from ``policy choose --save``) replaces the built-in one.
Applying a policy to a done run (a new run from its saved model, no refit) is
``runs.apply_policy_to_run``.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import access, columns as C, schema as S
from kurrant_core.audit import audited
from kurrant_core.candidates import candidate_block, candidate_sets
from kurrant_core.data import TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import _EMPTY_BLOCK, Recommender, _as_frame
from kurrant_core.rerank import OFF, Policy, admissible, rerank_many
from kurrant_core.rerank_block import rerank_block, spread_block

DEFAULT = "default"
DEFAULT_POLICY = Policy(name=DEFAULT, calibration_lambda=0.1, max_per_category=5, spread_max_share=0.5)
"""The built-in default, as ``policy choose`` picked it on the demo world's validation window
(README, "Diversity policies"): within the accuracy budget for every model; picks of the day no
more converged than the orders (the group spread); catalog lists as varied as the users' own last
ten meals (at most 5 of a top-10 from one cuisine: the median top share of a list is 50 %, as in
those meals; without the cap sequential's is 70 %); and, among those, the lowest mean catalog
calibration error. A cap of 4 per cuisine goes further but costs sequential 7 % and hybrid 9.5 %
of their catalog NDCG@10 on the test window, beyond the 5 % budget."""
VARIED = "varied"
VARIED_POLICY = Policy(name=VARIED, calibration_lambda=0.1, cap_by_history=True, spread_max_share=0.5)
"""The default's steps with the history cap instead of the flat cap of 5: no cuisine fills more of a
list than the user's own top cuisine fills their orders, so lists are as varied as the users' whole
histories (median top share 40 % against their 46 %), at a larger cost in catalog NDCG@10."""
BUILTIN = {OFF: Policy(name=OFF), DEFAULT: DEFAULT_POLICY, VARIED: VARIED_POLICY}
MODEL_DEFAULTS = {"popularity": VARIED, "als": VARIED, "sequential": VARIED, "tifu": VARIED}
"""The models whose own choice between ``default`` and ``varied`` (``policy choose --per-model`` on
the demo world's validation window) is ``varied``: for them it keeps the accuracy budget, so they
ship lists as varied as the users' whole histories. For hybrid, content, NCF and history it costs
more than 5 % of catalog NDCG@10 there: they keep the default."""
POLICY_KEY = "policy"
"""Key of the policy in a run's params (and in ``evaluate --format json`` rows)."""

_policies = S.rec_policy.c


def _ensure_table(engine: sa.Engine) -> None:
    """A DE database from before policies gets its (empty) policy table on first use."""
    S.rec_policy.create(engine, checkfirst=True)


# ------------------------------------------------------------------------------ storage
def parse_policy(text: str | dict, name: str | None = None) -> Policy:
    """A policy from its JSON (or dict); a malformed one raises KurrantError saying what is wrong."""
    if isinstance(text, str):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KurrantError(f"The policy is not valid JSON ({exc.msg} at character {exc.pos}).",
                               key="err.policy_json", msg=exc.msg, pos=exc.pos) from None
    else:
        values = dict(text)
    if name is not None and isinstance(values, dict):
        values = {**values, "name": name}
    return Policy.from_dict(values)


def save_policy(engine: sa.Engine, policy: Policy, *, by: access.Person) -> Policy:
    """Store (or replace) a named policy; ``off`` cannot be redefined.

    ``by`` must be allowed to save policies; the policy and its audit row commit together."""
    with audited(engine, by, access.SAVE_POLICY, f"policy {policy.name}") as act:
        if policy.name == OFF:
            raise KurrantError("'off' is the built-in policy that re-ranks nothing; choose another name.",
                               key="err.policy_off")
        _ensure_table(engine)
        row = {_policies[C.POLICY_NAME].name: policy.name, _policies.version.name: policy.version,
               _policies.settings.name: json.dumps(policy.to_dict()), _policies.saved_by.name: by.who[:100],
               _policies.saved_at.name: datetime.now().replace(microsecond=0)}
        with engine.begin() as conn:
            conn.execute(sa.delete(S.rec_policy).where(_policies[C.POLICY_NAME] == policy.name))
            conn.execute(sa.insert(S.rec_policy).values(row))
            act.done(conn, f"policy {policy.name}: {policy.steps_text()}"[:300])
    return policy


def get_policy(engine: sa.Engine | None, name: str) -> Policy:
    """The policy called ``name``: stored ones first (a stored ``default`` overrides the built-in)."""
    if engine is not None:
        _ensure_table(engine)
        with engine.connect() as conn:
            text = conn.execute(sa.select(_policies.settings).where(_policies[C.POLICY_NAME] == name)).scalar()
        if text is not None:
            return parse_policy(text, name)
    if name in BUILTIN:
        return BUILTIN[name]
    known = ", ".join(list_policies(engine)[C.POLICY_NAME]) if engine is not None else ", ".join(BUILTIN)
    raise KurrantError(f"No policy is called {name!r}. Known policies: {known}. Save one with "
                       "`python -m kurrant_core policy save NAME --set key=value` or from the Compare page.",
                       key="err.unknown_policy", name=name, known=known)


def default_policy_name(engine: sa.Engine | None, model: str) -> str:
    """The policy ``model``'s lists ship with when none is named: a team-saved ``default`` for every
    model; else the model's own evaluated choice (``MODEL_DEFAULTS``), else the built-in default."""
    if engine is not None:
        _ensure_table(engine)
        with engine.connect() as conn:
            if conn.execute(sa.select(_policies[C.POLICY_NAME]).where(_policies[C.POLICY_NAME] == DEFAULT)).first():
                return DEFAULT
    return MODEL_DEFAULTS.get(model, DEFAULT)


def policy_for_model(engine: sa.Engine | None, name: str | None, model: str) -> Policy | None:
    """The policy ``name`` means for ``model``: ``default`` is the model's own default
    (``default_policy_name``), ``off`` or None is no policy (None)."""
    if not name or name == OFF:
        return None
    return get_policy(engine, default_policy_name(engine, model) if name == DEFAULT else name)


def list_policies(engine: sa.Engine | None) -> pd.DataFrame:
    """Every policy (built-in and stored): name, what it does, who saved it when."""
    rows = {name: (policy, "built in", None) for name, policy in BUILTIN.items()}
    if engine is not None:
        _ensure_table(engine)
        with engine.connect() as conn:
            for r in conn.execute(sa.select(S.rec_policy).order_by(_policies[C.POLICY_NAME])).mappings():
                try:
                    name = r[_policies[C.POLICY_NAME].name]
                    rows[name] = (parse_policy(r[_policies.settings.name], name),
                                  r[_policies.saved_by.name], r[_policies.saved_at.name])
                except KurrantError as exc:        # shown, not fatal: one bad row hides nothing else
                    rows[r[_policies[C.POLICY_NAME].name]] = (None, f"unreadable: {exc}", r[_policies.saved_at.name])
    return pd.DataFrame([(name, policy.steps_text() if policy else "", who, when)
                         for name, (policy, who, when) in rows.items()],
                        columns=[C.POLICY_NAME, C.POLICY_STEPS, _policies.saved_by.name, _policies.saved_at.name])


def run_policy(params: dict) -> Policy:
    """The policy a run was written with (``off`` for runs from before policies)."""
    stored = params.get(POLICY_KEY)
    return parse_policy(stored) if stored else BUILTIN[OFF]


# ------------------------------------------------------------------------------ applying one
def apply_policy(model: Recommender, data: TrainingData, user_ids, k: int, policy: Policy, *,
                 service_date: date | None = None, dining_type: int | None = None,
                 exclude=None) -> pd.DataFrame:
    """The model's lists for ``user_ids`` as the policy ships them: shared columns plus
    ``RAW_SCORE`` (the model's score). ``SCORE`` is the policy's working relevance of each pick
    (normalised, penalised, explored); ranks follow the policy's order."""
    if not policy.reranks:
        recs = model.recommend(user_ids, k, service_date=service_date, dining_type=dining_type,
                               exclude=exclude)
        return recs.assign(**{C.RAW_SCORE: recs[C.SCORE]})
    apply = _apply_in_block if policy.mmr_lambda is None and policy.dpp_theta is None else _apply_per_list
    return apply(model, data, user_ids, k, policy, service_date, dining_type, exclude)


def _spread_depth(policy: Policy, k: int, service_date: date | None) -> tuple[bool, int]:
    """(whether a menu day's picks are spread, how deep each list is re-ranked): the spread needs
    each user's second choice."""
    spread = policy.spread_max_share is not None and service_date is not None
    return spread, max(k, 2) if spread else k


def _apply_in_block(model: Recommender, data: TrainingData, user_ids, k: int, policy: Policy,
                    service_date: date | None, dining_type: int | None, exclude) -> pd.DataFrame:
    """``apply_policy`` with every list of the batch re-ranked together (``rerank_block``)."""
    block = candidate_block(data, model, user_ids, n=max(policy.pool, k), service_date=service_date,
                            dining_type=dining_type, exclude=exclude)
    spread, depth = _spread_depth(policy, k, service_date)
    lists = rerank_block(block, policy, np.minimum(depth, block.lengths))
    u = data.user_indices(block.user_ids)
    if spread:
        lists = spread_block(block, lists, data.user_group[u], policy.spread_max_share)
    positions, scores = lists.positions[:, :k], lists.scores[:, :k]
    rows, cols = np.nonzero(positions >= 0)
    picks = positions[rows, cols]
    frame = _as_frame(data, [(u[rows],
                              data.food_indices(block.food_ids[rows, picks]), cols + 1, scores[rows, cols])],
                      service_date, dining_type)
    frame[C.RAW_SCORE] = block.relevance[rows, picks].astype(float)
    return frame


def _apply_per_list(model: Recommender, data: TrainingData, user_ids, k: int, policy: Policy,
                    service_date: date | None, dining_type: int | None, exclude) -> pd.DataFrame:
    """``apply_policy`` one ``CandidateSet`` per list (policies with MMR or DPP)."""
    pools = candidate_sets(data, model, user_ids, n=max(policy.pool, k), service_date=service_date,
                           dining_type=dining_type, exclude=exclude)
    spread, depth = _spread_depth(policy, k, service_date)
    wanted = [min(depth, len(pool)) for pool in pools.values()]
    results = rerank_many(list(pools.values()), policy, wanted)     # one rerank per user, batched
    picks = {user_id: (pool, _filled(pool, result, n, policy))
             for (user_id, pool), result, n in zip(pools.items(), results, wanted)}
    if spread:
        picks = {user: (pool, _first(result, k)) for user, (pool, result)
                 in spread_first_picks(picks, data, policy.spread_max_share).items()}
    return _as_rows(data, picks, service_date, dining_type)


def _filled(pool, result, k: int, policy: Policy):
    """A shipped list is never cut short by the caps: when they leave fewer than ``k`` foods (a
    catalogue with one maker), the other admissible foods follow in the model's order."""
    if not result.shortfall or (policy.max_per_category is None and policy.max_per_maker is None):
        return result
    taken = set(result.positions.tolist())
    allowed = admissible(pool, policy.repeat_window_days)
    rest = [p for p in np.argsort(-pool.relevance, kind="stable")
            if allowed[p] and p not in taken][:k - len(taken)]
    if not rest:
        return result
    positions = np.concatenate([result.positions, np.array(rest, dtype=int)])
    low = float(result.scores.min()) if len(result.scores) else 0.0
    scores = np.concatenate([result.scores, low - 1e-6 * np.arange(1, len(rest) + 1)])
    return replace(result, positions=positions, food_ids=pool.food_ids[positions], scores=scores,
                   shortfall=k - len(positions))


def _first(result, k: int):
    """The first ``k`` picks of a re-rank result."""
    return replace(result, positions=result.positions[:k], food_ids=result.food_ids[:k],
                   scores=result.scores[:k])


def spread_first_picks(picks: dict, data: TrainingData, max_share: float) -> dict:
    """Within each group, no food is #1 for more than ``max_share`` of the users (at least one).

    While a food is over the limit, the user of that food who gives up least moves to their best
    later food that is still under the limit (it becomes their #1, the rest keeps its order);
    users only move into foods with room, so nobody moves twice for the same food.
    """
    users = np.array(list(picks), dtype=np.int64)
    if len(users) == 0:
        return picks
    groups = data.user_group[data.user_indices(users)]
    out = dict(picks)
    for group in np.unique(groups):
        members = [int(u) for u in users[groups == group]]
        limit = max(1, int(np.floor(max_share * len(members))))
        first = {u: int(out[u][1].food_ids[0]) for u in members if len(out[u][1].food_ids)}
        counts = pd.Series(list(first.values()), dtype="int64").value_counts().to_dict()
        while True:
            crowded = [f for f, n in counts.items() if n > limit]
            if not crowded:
                break
            moves = []
            for u, f in first.items():
                if f not in crowded:
                    continue
                result = out[u][1]
                for j in range(1, len(result.food_ids)):
                    if counts.get(int(result.food_ids[j]), 0) < limit:
                        moves.append((float(result.scores[0] - result.scores[j]), u, j))
                        break
            if not moves:
                break
            _, u, j = min(moves)
            result = out[u][1]
            order = [j, *[x for x in range(len(result.food_ids)) if x != j]]
            out[u] = (out[u][0], replace(result, positions=result.positions[order],
                                         food_ids=result.food_ids[order], scores=result.scores[order]))
            counts[first[u]] -= 1
            first[u] = int(result.food_ids[j])
            counts[first[u]] = counts.get(first[u], 0) + 1
    return out


def _as_rows(data: TrainingData, picks: dict, service_date: date | None,
             dining_type: int | None) -> pd.DataFrame:
    """The picks in the shared columns (the base class's frame) plus the model's ``RAW_SCORE``."""
    parts, raw = [], []
    for user_id, (pool, result) in picks.items():
        n = len(result.positions)
        parts.append((np.full(n, data.user_index[int(user_id)], dtype=np.int64),
                      data.food_indices(pool.food_ids[result.positions]), np.arange(1, n + 1),
                      np.asarray(result.scores, dtype=float)))
        raw.append(pool.relevance[result.positions])
    frame = _as_frame(data, [_EMPTY_BLOCK, *parts], service_date, dining_type)
    frame[C.RAW_SCORE] = np.concatenate([np.empty(0), *raw]).astype(float)
    return frame
