"""The runs a comparison can show: finished runs in ``rec_run`` and their saved models.

Only a *done* run is comparable (its rows are visible and its artifacts complete). A run's model
is loaded back from its artifact folder with the registry, so any model that follows the contract
can be compared without this module knowing it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.access import Person
from kurrant_core.errors import KurrantError
from kurrant_core.models import Recommender, get_model_class
from kurrant_core.runs import get_run, list_runs

FAST_MODELS = ("popularity", "content")
"""Models that train in seconds: what the page offers to retrain when there is no run yet."""
MAX_COMPARED = 4
_RUN = S.rec_run.c


def comparable_runs(engine: sa.Engine) -> pd.DataFrame:
    """Done runs, newest first: RUN_ID, MODEL, DATA_CUTOFF, ``is_active``, LIST_LABEL."""
    runs = list_runs(engine)
    runs = runs[runs[_RUN.status.name] == S.RUN_DONE]
    out = runs[[C.RUN_ID, C.MODEL, C.DATA_CUTOFF, _RUN.is_active.name]].reset_index(drop=True)
    out[_RUN.is_active.name] = out[_RUN.is_active.name].astype(bool)
    out[C.DATA_CUTOFF] = [pd.Timestamp(d).date() for d in out[C.DATA_CUTOFF]]
    out[C.LIST_LABEL] = [run_label(m, r) for m, r in zip(out[C.MODEL], out[C.RUN_ID])]
    return out.astype({C.RUN_ID: "int64"})


def run_label(model: str, run_id: int) -> str:
    """How a run is named in column headers and legends: ``content #12``."""
    return f"{model} #{int(run_id)}"


def default_run_ids(runs: pd.DataFrame, n: int = 2) -> list[int]:
    """Up to ``n`` runs of different models, active runs first, then the newest."""
    ordered = runs.sort_values([_RUN.is_active.name, C.RUN_ID], ascending=False)
    return [int(r) for r in ordered.drop_duplicates(C.MODEL)[C.RUN_ID].head(n)]


def latest_cutoff(runs: pd.DataFrame, run_ids: Sequence[int]) -> date | None:
    """The latest data cutoff among the chosen runs (a user cold for it is cold for every one)."""
    cutoffs = runs.loc[runs[C.RUN_ID].isin(list(run_ids)), C.DATA_CUTOFF]
    return max(cutoffs) if len(cutoffs) else None


def load_run_model(engine: sa.Engine, run_id: int) -> Recommender:
    """The fitted model a done run saved; KurrantError when its artifacts are gone."""
    run = get_run(engine, run_id)
    if not run.is_done:
        raise KurrantError(f"Run {run_id} is {run.status_label}; only a finished run can be compared.",
                           key="err.run_not_comparable", run_id=run_id, status=run.status_label)
    from kurrant_core.ensembles import is_ensemble, load_ensemble
    if is_ensemble(run):               # fused from its members' lists, not a saved model of its own
        return load_ensemble(engine, run_id)
    if not run.artifact_path or not Path(run.artifact_path).exists():
        raise KurrantError(f"Run {run_id}'s saved model ({run.artifact_path or 'no path'}) is missing, so "
                           "its lists cannot be re-ranked; only its stored lists can be shown. Retrain "
                           f"{run.model} to compare it live.", key="err.artifacts_missing",
                           run_id=run_id, model=run.model)
    return get_model_class(run.model).load(Path(run.artifact_path))


def submit_fast_retrain(engine: sa.Engine, *, by: Person, launch: bool = True) -> int:
    """Queue a retrain job of the fast models so a fresh database has runs to compare; the job id.

    Training goes through the retrain job (a separate worker, one retrain at a time), never a page
    callback; JobRefused (a KurrantError) says which retrain is already running, and
    ``access.AccessDenied`` refuses ``by`` unless they may retrain (the same check as everywhere).
    """
    from kurrant_core.jobs import RetrainSpec, submit  # the job machinery loads only when asked
    spec = RetrainSpec.build(list(FAST_MODELS), evaluate=False)
    return submit(engine, spec, by=by, launch=launch)
