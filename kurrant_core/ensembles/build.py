"""Writing an ensemble run: members checked, lists fused, the ensemble's policy applied, one run.

An ensemble run is a run like any other (``rec_run`` + ``rec_user_recommend``, validated on write,
activated, published and exported the same way). Its model is ``ensemble``; its params hold the
members and the rule (``ENSEMBLE_KEY``) and its policy (``POLICY_KEY``). It writes what its members
wrote: a catalog list for every active user and each menu day the members pre-computed (or
``dates``), fused from their stored rows, with the members' saved models answering only for lists
the rows do not cover. For rrf and blend that takes seconds and loads no model; ``stacked`` first
refits the members on the validation window to learn its weights (a background job on the page).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, runs
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.ensembles import fusion
from kurrant_core.ensembles.members import (
    ENSEMBLE_KEY,
    SLOT_DATE,
    SLOT_MEAL,
    Member,
    is_ensemble,
    load_member_model,
    members_of,
    read_member_rows,
    resolve_members,
    saved_model_exists,
)
from kurrant_core.ensembles.ranker import FusedRanker
from kurrant_core.errors import EnsembleRefused, KurrantError
from kurrant_core.evaluation.split import DEFAULT_HORIZON_DAYS, TimeSplit
from kurrant_core.models import get_model_class
from kurrant_core.rerank import Policy

ENSEMBLE_MODEL = "ensemble"
"""``rec_run.model`` of a built ensemble (one active ensemble run, like one active run per model)."""
ENSEMBLE_FILE = "ensemble.json"
DATA_FOLDER = "data"
ProgressFn = Callable[[str, float], None]


def ensemble_params(members: Sequence[Member], rule: str, rrf_k: float, weights, catalog_weights,
                    stacking: dict | None = None) -> dict:
    """The ``ENSEMBLE_KEY`` entry of an ensemble run's params."""
    out = {"rule": rule, "members": [m.to_dict() for m in members], "rrf_k": rrf_k,
           "weights": None if weights is None else [float(w) for w in weights],
           "catalog_weights": None if catalog_weights is None else [float(w) for w in catalog_weights]}
    if stacking is not None:
        out["stacking"] = stacking
    return out


def member_training_data(engine: sa.Engine, members: Sequence[Member], cutoff: date) -> TrainingData:
    """The training data the members shared: from a member's saved folder (fast), else rebuilt."""
    for member in members:
        folder = Path(member.artifact_path or "") / DATA_FOLDER
        if member.artifact_path and (folder / "meta.json").exists():
            return TrainingData.load(folder)
    return build_training_data(engine, cutoff)


def model_params(run: runs.RunRecord) -> dict:
    """The member model's own hyper-parameters from its run's params (JSON lists back to tuples)."""
    cls = get_model_class(run.model)
    import inspect
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    return {key: tuple(v) if isinstance(defaults.get(key), tuple) and isinstance(v, list) else v
            for key, v in run.params.items() if key in cls._param_names()}


def _stored_dates(stored: dict[int, pd.DataFrame]) -> list[date]:
    days = set()
    for rows in stored.values():
        dated = rows[SLOT_MEAL] != 0
        days.update(pd.Timestamp(d).date() for d in rows.loc[dated, SLOT_DATE].unique())
    return sorted(days)


def _require_coverage(members: Sequence[Member], stored: dict[int, pd.DataFrame], data: TrainingData,
                      dates: Sequence[date]) -> None:
    """Refuse before writing when a member's rows miss a list the ensemble must write and its saved
    model, which would answer for it, is gone."""
    users = runs.active_user_ids(data)
    for member in members:
        if saved_model_exists(member):
            continue
        rows = stored[member.run_id]
        wanted = [(pd.Timestamp(0), 0, users)]
        for day in dates:
            wanted += [(pd.Timestamp(day), meal, eaters) for meal, eaters in runs.menu_slots(data, day, users)]
        for day, meal, eaters in wanted:
            stored_slot = ((rows[SLOT_DATE] == day) & (rows[SLOT_MEAL] == meal)).any()
            missing = np.empty(0) if stored_slot else eaters   # a stored slot lists every eater it can
            if len(missing):
                where = "the catalog lists" if meal == 0 else f"{day.date()} (dining type {meal})"
                raise EnsembleRefused(
                    f"{member.label} stored no list for {len(missing)} user(s) of {where} (e.g. user "
                    f"{int(missing[0])}) and its saved model is gone, so they cannot be fused. Build "
                    "the ensemble for the member's own dates, or retrain the member.")


def build_ensemble(engine: sa.Engine, members: str | Sequence[str | int], rule: str = fusion.RRF, *,
                   rrf_k: float = fusion.DEFAULT_RRF_K, weights: Sequence[float] | None = None,
                   policy: str | Policy | None = None, k: int | None = None,
                   dates: Sequence[date] | None = None, horizon_days: int = DEFAULT_HORIZON_DAYS,
                   by=None, triggered_by: str | None = None, job_id: int | None = None,
                   progress: ProgressFn | None = None,
                   should_stop: Callable[[], bool] | None = None) -> int:
    """Fuse ``members`` (run ids or model names, see ``members``) by ``rule`` into a new done run;
    its id.

    ``weights`` weigh the members (rrf, blend; default 1 each); ``stacked`` learns them per protocol
    on the validation window (``horizon_days`` before the members' cutoff). ``policy`` (a name or a
    Policy; default ``default``) re-ranks the fused lists. ``k`` is the catalog list length (default:
    the members'); ``dates`` the menu days (default: those the members pre-computed). ``by`` (an
    ``access.Person``) must be allowed ``make_ensemble``; the action is audited. Anything refused raises a
    KurrantError (EnsembleRefused for the members) with nothing written; a failure while writing
    fails the run, leaving no rows.
    """
    settings = dict(rrf_k=rrf_k, weights=weights, policy=policy, k=k, dates=dates,
                    horizon_days=horizon_days, triggered_by=triggered_by, job_id=job_id,
                    progress=progress, should_stop=should_stop)
    if by is None:
        return _build(engine, members, rule, **settings)
    from kurrant_core import access
    from kurrant_core.audit import audited
    with audited(engine, by, access.MAKE_ENSEMBLE, f"ensemble {rule} of {members}"):
        return _build(engine, members, rule, **settings)


def _build(engine: sa.Engine, members, rule: str, *, rrf_k, weights, policy, k, dates, horizon_days,
           triggered_by, job_id, progress, should_stop) -> int:
    from kurrant_core.policies import DEFAULT, get_policy
    report = progress or (lambda stage, fraction: None)
    records = resolve_members(engine, members)
    fusion.check_rule(rule, rrf_k, weights, len(records))
    if rule == fusion.STACKED and weights is not None:
        raise KurrantError("The stacked rule learns its weights on the validation window; leave the "
                           "weights out (or use the blend rule with your weights).")
    shipped = get_policy(engine, policy or DEFAULT) if not isinstance(policy, Policy) else policy
    chosen = members_of(records)
    report("reading the members' lists", 0.05)
    stored = {m.run_id: read_member_rows(engine, m.run_id) for m in chosen}
    cutoff = records[0].data_cutoff
    data = member_training_data(engine, chosen, cutoff)
    if k is None:
        catalog = [rows.loc[rows[SLOT_MEAL] == 0, "member_rank"].max() for rows in stored.values()]
        k = int(max([c for c in catalog if pd.notna(c)], default=10))
    if k < 1:
        raise KurrantError(f"k must be at least 1, not {k}.")
    days = list(dates) if dates is not None else (_stored_dates(stored) or runs.upcoming_menu_dates(data))
    _require_coverage(chosen, stored, data, days)
    catalog_weights, stacking = weights, None
    if rule == fusion.STACKED:
        from kurrant_core.ensembles.stacking import stacked_weights
        report("learning the stacked weights on the validation window", 0.1)
        learned = stacked_weights(engine, [load_or_make(r) for r in records],
                                  TimeSplit(cutoff, horizon_days), k=k)
        weights, catalog_weights, stacking = learned.daily_menu, learned.catalog, learned.record()
    ranker = FusedRanker.from_members(chosen, data, stored=stored, rule=rule, rrf_k=rrf_k,
                                      weights=weights, catalog_weights=catalog_weights)
    spec = ensemble_params(chosen, rule, rrf_k, weights, catalog_weights, stacking)
    recipe = {**spec, "member_artifacts": {m.run_id: m.artifact_path for m in chosen}}

    def save_recipe(folder: Path) -> None:
        """The ensemble's artifacts: its recipe and where its members' models lie (nothing fitted)."""
        (folder / ENSEMBLE_FILE).write_text(json.dumps(recipe, ensure_ascii=False, indent=1, default=str))

    train_window = (min((r.train_start for r in records if r.train_start), default=None),
                    max((r.train_end for r in records if r.train_end), default=None))
    return runs.run_pipeline(engine, ranker, data, params={ENSEMBLE_KEY: spec}, k=k,
                             policy=shipped, dates=days, fit=False, save=save_recipe,
                             train_window=train_window, triggered_by=triggered_by, job_id=job_id,
                             progress=lambda stage, fraction: report(stage, 0.2 + 0.8 * fraction),
                             should_stop=should_stop)


def load_or_make(run: runs.RunRecord):
    """An unfitted model of the member's kind with its hyper-parameters (stacking refits it)."""
    from kurrant_core.models import make_model
    return make_model(run.model, **model_params(run))


def load_ensemble(engine: sa.Engine, run_id: int) -> FusedRanker:
    """A done ensemble run as a ranker: its members' stored rows, their saved models on demand
    (what Compare shows: the run's lists, and where each member put each food)."""
    run = runs.get_run(engine, run_id)
    if not is_ensemble(run):
        raise KurrantError(f"Run {run_id} ({run.model}) is not an ensemble.")
    if not run.is_done:
        raise KurrantError(f"Run {run_id} is {run.status_label}; only a finished run can be compared.")
    spec = run.params[ENSEMBLE_KEY]
    records = [runs.get_run(engine, int(m[C.RUN_ID])) for m in spec["members"]]
    chosen = members_of(records)
    stored = {m.run_id: read_member_rows(engine, m.run_id) for m in chosen}
    data = member_training_data(engine, chosen, run.data_cutoff)
    return FusedRanker.from_members(chosen, data, stored=stored, rule=spec["rule"], rrf_k=spec["rrf_k"],
                                    weights=spec.get("weights"), catalog_weights=spec.get("catalog_weights"))


def member_models(members: Sequence[Member]) -> dict[int, object]:
    """Each member's saved model by run id (the evaluation fuses fitted models)."""
    return {m.run_id: load_member_model(m) for m in members}
