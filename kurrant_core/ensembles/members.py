"""An ensemble's members: which done runs, checked, and what each one listed.

Members are given as run ids (``12,15``) or model names (``hybrid,sequential``: the active run of
each). Every member must exist, be done, be a model's run (not another ensemble) and share one data
cutoff with the others: fusing lists learned on different days would mix what each knew. Anything
else is refused (:class:`EnsembleRefused`) before a single row is written.

What each member listed is read back from its stored rows (``rec_user_recommend``), ranked by the
model's own score (``raw_score``: the order before the member's diversity policy), so the fusion
sees the models, not their policies.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, runs
from kurrant_core.errors import EnsembleRefused, KurrantError
from kurrant_core.runs import RunRecord
from kurrant_core.schema import RUN_DONE, rec_run

_RUN = rec_run.c

ENSEMBLE_KEY = "ensemble"
"""Key of a run's params that makes it an ensemble: {rule, members, rrf_k, weights}."""
MEMBER_RANK = "member_rank"
"""Column of member rows: the food's rank in the member's list by the model's own score."""
MEMBER_RAW = "member_raw"
"""Column of member rows: the model's own score (``raw_score``; ``score`` for older runs)."""
SLOT_DATE, SLOT_MEAL = "slot_date", "slot_meal"
"""Columns of member rows: the list's service date and dining type with the catalog list encoded
as ``NO_DATE``/``NO_MEAL`` (pandas cannot join on missing keys reliably)."""
NO_DATE, NO_MEAL = pd.Timestamp("1970-01-01"), 0


@dataclass(frozen=True)
class Member:
    """One member run: its id, model and label (``hybrid #12``), and where its model is saved."""

    run_id: int
    model: str
    artifact_path: str | None

    @property
    def label(self) -> str:
        return f"{self.model} #{self.run_id}"

    def to_dict(self) -> dict:
        return {C.RUN_ID: self.run_id, C.MODEL: self.model}


def is_ensemble(run: RunRecord) -> bool:
    """Whether a run was made by fusing other runs."""
    return isinstance(run.params.get(ENSEMBLE_KEY), dict)


def parse_members(spec: str | Sequence[str | int]) -> list[str | int]:
    """``"12,15"`` / ``"hybrid,sequential"`` / a list -> run ids (int) and model names (str)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str | int] = []
    for item in items:
        text = str(item).strip()
        if text:
            out.append(int(text) if text.isdigit() else text)
    if not out:
        raise EnsembleRefused("An ensemble needs at least one member: run ids (12,15) or model names "
                              "(hybrid,sequential: the active run of each).", key="err.ens_no_members")
    return out


def _active_run(engine: sa.Engine, model: str) -> int:
    listed = runs.list_runs(engine, model)
    active = listed[(listed[_RUN.status.name] == RUN_DONE) & listed[_RUN.is_active.name].astype(bool)]
    if active.empty:
        raise EnsembleRefused(f"{model} has no active done run to fuse. Train it (`python -m kurrant_core "
                              f"train --model {model}`) and activate the run, or give run ids instead.",
                              key="err.ens_no_active", model=model)
    return int(active[C.RUN_ID].iloc[0])


def resolve_members(engine: sa.Engine, spec: str | Sequence[str | int]) -> list[RunRecord]:
    """The member runs, checked (see the module docstring); EnsembleRefused says what is wrong."""
    run_ids = [item if isinstance(item, int) else _active_run(engine, item) for item in parse_members(spec)]
    if len(set(run_ids)) != len(run_ids):
        raise EnsembleRefused(f"A run is listed twice among the members ({', '.join(map(str, run_ids))}); "
                              "list each run once.", key="err.ens_twice", ids=", ".join(map(str, run_ids)))
    records = []
    for run_id in run_ids:
        try:
            run = runs.get_run(engine, run_id)
        except KurrantError as exc:
            raise EnsembleRefused(f"Member {exc}", key="err.ens_member", detail=exc) from None
        if not run.is_done:
            raise EnsembleRefused(f"Run {run_id} ({run.model}) is {run.status_label}; only done runs can "
                                  "be fused. Pick another run or retrain the model.", key="err.ens_not_done",
                                  run_id=run_id, model=run.model, status=run.status_label)
        if is_ensemble(run):
            raise EnsembleRefused(f"Run {run_id} is itself an ensemble; fuse the model runs it was made of.",
                                  key="err.ens_nested", run_id=run_id)
        records.append(run)
    cutoffs = {run.data_cutoff for run in records}
    if len(cutoffs) > 1:
        listed = ", ".join(f"{r.model} #{r.run_id}: {r.data_cutoff}" for r in records)
        raise EnsembleRefused(f"The members were trained on different cutoffs ({listed}); fuse runs "
                              "of one cutoff (retrain them together) so no member knows more than another.",
                              key="err.ens_cutoffs", listed=listed)
    return records


def members_of(records: Sequence[RunRecord]) -> list[Member]:
    return [Member(r.run_id, r.model, r.artifact_path) for r in records]


def member_cutoff(records: Sequence[RunRecord]) -> date:
    return records[0].data_cutoff


def read_member_rows(engine: sa.Engine, run_id: int) -> pd.DataFrame:
    """The member's stored lists: user, slot (``SLOT_DATE``, ``SLOT_MEAL``), food, ``MEMBER_RAW``
    and ``MEMBER_RANK`` (1 = the model's best in that list; ties keep the stored order)."""
    rows = runs.read_recommendations(engine, run_id, with_raw_score=True)
    raw = rows[C.RAW_SCORE] if C.RAW_SCORE in rows else rows[C.SCORE]
    out = pd.DataFrame({
        C.USER_ID: rows[C.USER_ID].to_numpy(np.int64),
        SLOT_DATE: pd.to_datetime(rows[C.SERVICE_DATE]).fillna(NO_DATE).to_numpy(),
        SLOT_MEAL: rows[C.DINING_TYPE].fillna(NO_MEAL).to_numpy(np.int64),
        C.FOOD_ID: rows[C.FOOD_ID].to_numpy(np.int64),
        MEMBER_RAW: pd.to_numeric(raw, errors="coerce").fillna(rows[C.SCORE]).to_numpy(float),
        C.RANK: rows[C.RANK].to_numpy(np.int64)})
    out = out.sort_values([C.USER_ID, SLOT_DATE, SLOT_MEAL, MEMBER_RAW, C.RANK],
                          ascending=[True, True, True, False, True], kind="stable")
    out[MEMBER_RANK] = out.groupby([C.USER_ID, SLOT_DATE, SLOT_MEAL], sort=False).cumcount() + 1
    return out.drop(columns=C.RANK).reset_index(drop=True)


def slot_key(service_date: date | None, dining_type: int | None) -> tuple[pd.Timestamp, int]:
    """The (SLOT_DATE, SLOT_MEAL) of a list: a menu slot, or the catalog list."""
    if service_date is None:
        return NO_DATE, NO_MEAL
    return pd.Timestamp(service_date), int(dining_type)


def saved_model_exists(member: Member) -> bool:
    return bool(member.artifact_path) and (Path(member.artifact_path) / "params.json").exists()


def load_member_model(member: Member):
    """The member's saved model (for the lists its rows do not cover)."""
    from kurrant_core.models import get_model_class
    if not saved_model_exists(member):
        raise EnsembleRefused(f"{member.label} stored no list for some of the users or dates asked, and "
                              f"its saved model ({member.artifact_path or 'no folder'}) is gone; build the "
                              "ensemble for the stored dates only, or retrain the member.",
                              key="err.ens_model_gone", label=member.label)
    return get_model_class(member.model).load(Path(member.artifact_path))
