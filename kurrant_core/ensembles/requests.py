"""What the retrain page's "make an ensemble" form needs: the runs it can fuse, and one call that
builds the ensemble now (rrf, blend: seconds from stored rows) or as a background job (stacked:
the members are refitted on the validation window, minutes)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, runs
from kurrant_core.ensembles import fusion
from kurrant_core.ensembles.build import ENSEMBLE_MODEL, build_ensemble
from kurrant_core.ensembles.members import ENSEMBLE_KEY
from kurrant_core.errors import EnsembleRefused
from kurrant_core.schema import RUN_DONE, rec_run

SYNC_RULES = (fusion.RRF, fusion.BLEND)
"""Rules built while the page waits (seconds); the others run as a job."""
_RUN = rec_run.c


@dataclass(frozen=True)
class EnsembleRequest:
    """What was started: a finished run (``run_id``) or a queued job (``job_id``)."""

    run_id: int | None = None
    job_id: int | None = None


def fusable_runs(engine: sa.Engine) -> pd.DataFrame:
    """Done model runs (not ensembles), newest first: RUN_ID, MODEL, DATA_CUTOFF, LIST_LABEL
    (``hybrid #12 · 2026-10-31 · active``) and IS_ACTIVE (for a page that words the label itself)."""
    listed = runs.list_runs(engine)
    if listed.empty:
        return pd.DataFrame(columns=[C.RUN_ID, C.MODEL, C.DATA_CUTOFF, C.LIST_LABEL, C.IS_ACTIVE])
    listed = listed[(listed[_RUN.status.name] == RUN_DONE) & (listed[_RUN.model.name] != ENSEMBLE_MODEL)]
    listed = listed[[not isinstance(json.loads(p or "{}").get(ENSEMBLE_KEY), dict) for p in listed[_RUN.params.name]]]
    out = listed[[C.RUN_ID, C.MODEL, C.DATA_CUTOFF]].reset_index(drop=True).astype({C.RUN_ID: "int64"})
    active = listed[_RUN.is_active.name].astype(bool).to_numpy()
    out[C.LIST_LABEL] = [f"{m} #{r} · {pd.Timestamp(d).date()}" + (" · active" if a else "")
                         for m, r, d, a in zip(out[C.MODEL], out[C.RUN_ID], out[C.DATA_CUTOFF], active)]
    out[C.IS_ACTIVE] = active
    return out


def make_ensemble(engine: sa.Engine, run_ids: Sequence[int], rule: str, *, by, policy: str | None = None,
                  rrf_k: float = fusion.DEFAULT_RRF_K, activate: bool = False,
                  launch: bool = True) -> EnsembleRequest:
    """Build the ensemble now (rules in ``SYNC_RULES``) or submit it as a job; ``by`` must be
    allowed ``make_ensemble`` (both ways are audited)."""
    if not run_ids:
        raise EnsembleRefused("Choose the runs to fuse.")
    if rule in SYNC_RULES:
        run_id = build_ensemble(engine, [int(r) for r in run_ids], rule, rrf_k=rrf_k, policy=policy,
                                by=by, triggered_by=by.who)
        if activate:
            runs.activate_run(engine, run_id, by=by)
        return EnsembleRequest(run_id=run_id)
    from kurrant_core.ensembles.members import resolve_members
    from kurrant_core.jobs import RetrainSpec, submit
    members = resolve_members(engine, [int(r) for r in run_ids])      # refused here, not in the job
    spec = RetrainSpec.build([m.model for m in members], evaluate=False, activate=activate,
                             ensemble={"members": [m.run_id for m in members], "rule": rule,
                                       "rrf_k": rrf_k, "weights": None, "policy": policy})
    return EnsembleRequest(job_id=submit(engine, spec, by=by, launch=launch))
