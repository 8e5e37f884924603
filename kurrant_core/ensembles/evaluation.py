"""Ensembles on the leaderboard: ``evaluate --ensemble rrf:hybrid,sequential,content``.

After the evaluation has fitted and stored every model at the cutoff, each ensemble fuses the
members' scores from that same evaluation (the members' saved, pre-cutoff models, scored live over
each test menu and the catalog), is scored by the same protocols and stored as a run (its catalog
lists, members and rule in its params). A stacked ensemble learns its weights on the validation
window first (members refitted before it), never on the test window. Each ensemble carries the
paired interval against the best baseline (like every model) and against its best member.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, runs
from kurrant_core.ensembles import fusion
from kurrant_core.ensembles.build import ENSEMBLE_MODEL, ensemble_params, member_models
from kurrant_core.ensembles.members import ENSEMBLE_KEY, Member
from kurrant_core.ensembles.ranker import FusedRanker
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.baselines import _means, compare_to_baselines
from kurrant_core.evaluation.harness import ModelEvaluation, score_fitted
from kurrant_core.evaluation.intervals import paired_bootstrap
from kurrant_core.evaluation.protocols import (
    DAILY_INTERVAL_KEYS,
    catalog_interval_keys,
    random_catalog_per_user,
    truth_of,
)
from kurrant_core.evaluation.split import read_test_items
from kurrant_core.policies import policy_for_model
from kurrant_core.rerank import OFF

ALL = "all"
VERSUS_MEMBER = "versus_best_member"
"""Per protocol and headline metric: the ensemble's best member and the paired interval of the
difference to it (``reference``, ``diff``, ``low``, ``high``, ``beats_members``)."""
BEATS_MEMBERS = "beats_members"
MAX_LABEL = 40


@dataclass(frozen=True)
class EnsembleSpec:
    """``rule:members`` as given to ``evaluate --ensemble`` (members: model names or ``all``)."""

    rule: str
    members: tuple[str, ...]

    @property
    def label(self) -> str:
        """The leaderboard's name for it (``rec_run.model`` holds at most 40 characters)."""
        text = f"{self.rule}:{','.join(self.members)}"
        return text if len(text) <= MAX_LABEL else f"{self.rule}:{len(self.members)} models"


def parse_ensemble_spec(text: str) -> EnsembleSpec:
    """``"rrf:hybrid,sequential"`` / ``"stacked:all"`` -> EnsembleSpec, checked."""
    rule, sep, rest = text.partition(":")
    members = tuple(m.strip() for m in rest.split(",") if m.strip())
    if not sep or not members:
        raise KurrantError(f"--ensemble {text!r}: write RULE:MODEL,MODEL or RULE:all, e.g. "
                           "rrf:hybrid,sequential,content or stacked:all.")
    fusion.check_rule(rule.strip())
    if len(set(members)) != len(members):
        raise KurrantError(f"--ensemble {text!r} lists a model twice.")
    return EnsembleSpec(rule.strip(), members)


def member_names(specs: Sequence[EnsembleSpec]) -> list[str]:
    """The models the ensembles need evaluated (``all`` needs none beyond the evaluation's)."""
    return list(dict.fromkeys(m for s in specs for m in s.members if m != ALL))


@dataclass
class EnsembleEvaluation(ModelEvaluation):
    """A model evaluation plus the interval against the ensemble's best member."""

    versus_member: dict[str, dict] = field(default_factory=dict)
    ensemble: dict[str, Any] = field(default_factory=dict)

    def stored_metrics(self) -> dict[str, Any]:
        return {**super().stored_metrics(), VERSUS_MEMBER: self.versus_member, ENSEMBLE_KEY: self.ensemble}

    def json_rows(self) -> list[dict[str, Any]]:
        rows = super().json_rows()
        for row in rows:
            row[VERSUS_MEMBER] = self.versus_member.get(row[C.PROTOCOL], {}) if row[N.POLICY] == OFF else {}
            row[ENSEMBLE_KEY] = self.ensemble
        return rows


def versus_best_member(ensemble: pd.DataFrame, members: Mapping[str, pd.DataFrame], keys: Sequence[str],
                       weight: str | None) -> dict[str, dict]:
    """Per metric: the member with the highest mean and the paired bootstrap interval of the
    ensemble's difference to it (users resampled)."""
    out = {}
    means = {name: _means(frame, keys, weight) for name, frame in members.items()}
    for key in keys:
        ranked = [m for m in members if not np.isnan(means[m][key])]
        if not ranked:
            continue
        best = max(ranked, key=lambda m: means[m][key])
        reference = members[best]
        units = ensemble.index.union(reference.index)
        a = ensemble[key].reindex(units, fill_value=0.0).to_numpy()
        b = reference[key].reindex(units, fill_value=0.0).to_numpy()
        w = None if weight is None else np.maximum(ensemble[weight].reindex(units, fill_value=0.0).to_numpy(),
                                                   reference[weight].reindex(units, fill_value=0.0).to_numpy())
        interval = paired_bootstrap(a, b, w)
        out[key] = {N.REFERENCE: best, **{k: round(v, 6) if v == v else None
                                          for k, v in interval.to_dict().items()},
                    BEATS_MEMBERS: interval.above_zero}
    return out


def evaluate_ensembles(engine: sa.Engine, evaluations: Sequence[ModelEvaluation],
                       specs: Sequence[EnsembleSpec], *, rrf_k: float = fusion.DEFAULT_RRF_K,
                       with_tradeoff: bool = True, triggered_by: str | None = "evaluate",
                       job_id: int | None = None, progress=None,
                       policy: str | None = None) -> list[EnsembleEvaluation]:
    """Score and store each ensemble of ``specs`` over the models of ``evaluations`` (one
    ``evaluate`` call's result, one cutoff); see the module docstring. ``policy`` (a name, as
    ``evaluate --policy``; ``default`` = the ensemble model's own default) is what the ensembles'
    lists are also measured and written with (None: the first evaluation's policy)."""
    report = progress or (lambda stage, fraction: None)
    if not specs:
        return []
    first = evaluations[0]
    if len(first.cutoffs) > 1:
        raise KurrantError("--ensemble needs a single cutoff (leave --backtest at 1): the ensemble fuses "
                           "the models fitted at that cutoff.")
    by_model = {e.model: e for e in evaluations}
    missing = sorted({m for s in specs for m in s.members if m != ALL and m not in by_model})
    if missing:
        raise KurrantError(f"The ensembles need {', '.join(missing)}, which this evaluation did not "
                           "evaluate; add them to --models.")
    split, k = first.split, first.k
    shipped = first.policy if policy is None else policy_for_model(engine, policy, ENSEMBLE_MODEL)
    needed = {by_model[m].run_id for s in specs for m in (by_model if ALL in s.members else s.members)}
    records = {rid: runs.get_run(engine, rid) for rid in needed}
    members_by_id = {rid: Member(rid, r.model, r.artifact_path) for rid, r in records.items()}
    report("loading the members' models", 0.0)
    models = member_models(list(members_by_id.values()))
    data = next(iter(models.values())).data_
    test = read_test_items(engine, split)
    test = test[test[C.USER_ID].isin(data.user_ids) & test[C.FOOD_ID].isin(data.food_ids)].reset_index(drop=True)
    truth = truth_of(test, data, exclude_seen=first.exclude_seen)
    random_catalog = random_catalog_per_user(data, truth, k, exclude_seen=first.exclude_seen)
    out = []
    for n, spec in enumerate(specs):
        names = list(by_model) if ALL in spec.members else list(spec.members)
        chosen = [members_by_id[by_model[m].run_id] for m in names]
        weights = catalog_weights = stacking = None
        if spec.rule == fusion.STACKED:
            from kurrant_core.ensembles.stacking import stacked_weights
            report(f"{spec.label}: learning weights on the validation window", n / len(specs))
            learned = stacked_weights(engine, [models[m.run_id] for m in chosen], split, k=k)
            weights, catalog_weights, stacking = learned.daily_menu, learned.catalog, learned.record()
        ranker = FusedRanker.from_members(chosen, data, models={m.run_id: models[m.run_id] for m in chosen},
                                          rule=spec.rule, rrf_k=rrf_k, weights=weights,
                                          catalog_weights=catalog_weights)
        report(f"{spec.label}: scoring", (n + 0.5) / len(specs))
        scores = score_fitted(ranker, data, test, k=k, with_tradeoff=with_tradeoff,
                              exclude_seen=first.exclude_seen, policy=shipped)
        daily = {e.model: e.scores.daily_users for e in evaluations}
        catalog = {e.model: e.scores.catalog_users for e in evaluations}
        versus, _ = compare_to_baselines({**daily, spec.label: scores.daily_users},
                                         {**catalog, spec.label: scores.catalog_users}, random_catalog, k)
        versus_member = {
            N.DAILY_MENU: versus_best_member(scores.daily_users, {m: daily[m] for m in names},
                                             DAILY_INTERVAL_KEYS, N.N_EVENTS),
            N.CATALOG: versus_best_member(scores.catalog_users, {m: catalog[m] for m in names},
                                          catalog_interval_keys(k), None)}
        info = ensemble_params(chosen, spec.rule, rrf_k, weights, catalog_weights, stacking)
        out.append(_store(engine, ranker, spec, info, scores, versus.get(spec.label, {}), versus_member,
                          first, records, triggered_by, job_id, shipped))
    return out


def _store(engine, ranker: FusedRanker, spec: EnsembleSpec, info: dict, scores, versus, versus_member,
           first: ModelEvaluation, records, triggered_by, job_id, policy) -> EnsembleEvaluation:
    """The ensemble as an evaluated run: its catalog lists as its policy ships them, its metrics."""
    from kurrant_core.policies import BUILTIN, POLICY_KEY
    shipped = policy or BUILTIN[OFF]
    member_runs = [records[m.run_id] for m in ranker.members_]
    params = {ENSEMBLE_KEY: info, POLICY_KEY: shipped.to_dict(),
              N.EVALUATION: {C.DATA_CUTOFF: first.split.cutoff.isoformat(),
                             C.HORIZON_DAYS: first.split.horizon_days, N.K: first.k,
                             N.CUTOFFS: first.cutoffs, N.EXCLUDE_SEEN: first.exclude_seen}}
    run_id = runs.start_run(engine, spec.label, params, data_cutoff=ranker.data_.cutoff,
                               train_start=min(r.train_start for r in member_runs),
                              train_end=max(r.train_end for r in member_runs),
                               triggered_by=triggered_by, job_id=job_id)
    try:
        runs.write_run_lists(engine, run_id, ranker, ranker.data_, first.k, shipped, [])
        evaluation = EnsembleEvaluation(spec.label, run_id, first.split, first.cutoffs, first.k, scores,
                                        versus=versus, random=first.random, exclude_seen=first.exclude_seen,
                                        policy=policy, versus_member=versus_member, ensemble=info)
        runs.finish_run(engine, run_id, metrics=evaluation.stored_metrics(), n_users=ranker.data_.n_users,
                           n_items=ranker.data_.n_foods, artifact_path=None)
    except BaseException as exc:
        runs.fail_run(engine, run_id, exc)
        raise
    return evaluation


def versus_member_frame(evaluations: Sequence[ModelEvaluation], protocol: str) -> pd.DataFrame:
    """One row per ensemble and headline metric: its best member and the interval of the difference."""
    rows = [{C.MODEL: e.model, "metric": metric, **interval}
            for e in evaluations if isinstance(e, EnsembleEvaluation)
            for metric, interval in e.versus_member.get(protocol, {}).items()]
    return pd.DataFrame(rows)
