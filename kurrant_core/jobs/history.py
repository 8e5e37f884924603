"""Run history for the retrain page: who trained what when, how it went, how two runs differ.

Also the little data questions the retrain form asks (which menu days come after the cutoff), and
a run's Parquet export as bytes for a download button.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core import results, schema
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import headline_metrics
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.split import last_service_date
from kurrant_core.evaluation.tuning import CHOSEN, FROM_RUN, VALIDATION_FROM, VALIDATION_TO

_runs = schema.rec_run.c
IS_ACTIVE = _runs.is_active.name
TUNED = "tuned"
"""Run-history column: the hyper-parameters chosen on the validation window, if the run was tuned."""
HISTORY_COLUMNS = [C.RUN_ID, C.MODEL, _runs.started_at.name, _runs.triggered_by.name,
                   _runs.data_cutoff.name, _runs.train_start.name, _runs.train_end.name, C.DURATION_S,
                   C.STATUS_LABEL, _runs.is_active.name, C.JOB_ID, TUNED]
"""The history's fixed columns; each run's headline metrics follow them."""
DEFAULT_MENU_DAYS = results.DEFAULT_DAYS


def tuned_text(params_json: str | None) -> str:
    """``factors=32, alpha=10.0 (validation 2026-10-03..2026-10-16)`` for a tuned run, else ''."""
    params = json.loads(params_json) if isinstance(params_json, str) and params_json else {}
    record = params.get(N.TUNING)
    if not isinstance(record, dict) or not isinstance(record.get(CHOSEN), dict):
        return ""
    chosen = ", ".join(f"{key}={value}" for key, value in record[CHOSEN].items()) or "defaults"
    window = f" (validation {record.get(VALIDATION_FROM)}..{record.get(VALIDATION_TO)})"
    source = f", from run {record[FROM_RUN]}" if record.get(FROM_RUN) else ""
    return chosen + window + source


def run_history(engine: sa.Engine, model: str | None = None) -> pd.DataFrame:
    """Every run, newest first: ``HISTORY_COLUMNS`` then the headline metrics it stored."""
    runs = results.list_runs(engine, model)
    if runs.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    started = pd.to_datetime(runs[_runs.started_at.name])
    finished = pd.to_datetime(runs[_runs.finished_at.name])
    metrics = [headline_metrics(json.loads(m) if isinstance(m, str) and m else None)
               for m in runs[_runs.metrics.name]]
    out = pd.DataFrame({
        C.RUN_ID: runs[C.RUN_ID].astype("int64"), C.MODEL: runs[_runs.model.name],
        _runs.started_at.name: started, _runs.triggered_by.name: runs[_runs.triggered_by.name],
        _runs.data_cutoff.name: runs[_runs.data_cutoff.name],
        _runs.train_start.name: runs[_runs.train_start.name],
        _runs.train_end.name: runs[_runs.train_end.name],
        C.DURATION_S: (finished - started).dt.total_seconds(),
        C.STATUS_LABEL: runs[_runs.status.name].map(schema.RUN_STATUS),
        _runs.is_active.name: runs[_runs.is_active.name].astype(bool),
        C.JOB_ID: runs[C.JOB_ID].astype("Int64"),
        TUNED: [tuned_text(p) for p in runs[_runs.params.name]]})
    return pd.concat([out, pd.DataFrame(metrics, index=out.index)], axis=1)


def done_runs_of(engine: sa.Engine, model: str) -> list[int]:
    """Ids of ``model``'s done runs, newest first (what can be compared, activated, exported)."""
    runs = results.list_runs(engine, model)
    return [int(r) for r in runs.loc[runs[_runs.status.name] == schema.RUN_DONE, C.RUN_ID]]


def flat_metrics(stored: dict | None) -> dict[str, float]:
    """A run's stored metrics as ``{"protocol metric": value}`` (numbers only; the split they
    were measured on is left out, it is not a metric)."""
    measured = {key: value for key, value in (stored or {}).items() if key != N.EVALUATION}
    if not measured:
        return {}
    flat = pd.json_normalize(measured, sep=" ").iloc[0].to_dict()
    return {key: float(value) for key, value in flat.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


@dataclass(frozen=True)
class ListOverlap:
    """How much two runs' catalog lists agree over the users both have a list for."""

    n_users: int
    mean_jaccard: float
    same_top_pick: float


@dataclass(frozen=True)
class RunComparison:
    metrics: pd.DataFrame        # METRIC, one column per run, CHANGE (b - a)
    overlap: ListOverlap


def run_label(run_id: int) -> str:
    return f"run {int(run_id)}"


def compare_runs(engine: sa.Engine, run_a: int, run_b: int) -> RunComparison:
    """Two done runs side by side: their metrics and the overlap of their catalog lists."""
    a, b = results.get_run(engine, run_a), results.get_run(engine, run_b)
    for run in (a, b):
        if not run.is_done:
            raise KurrantError(f"Run {run.run_id} is {run.status_label}; only done runs can be "
                               "compared.")
    left, right = flat_metrics(a.metrics), flat_metrics(b.metrics)
    keys = [k for k in left if k in right] + [k for k in left if k not in right] + \
           [k for k in right if k not in left]
    frame = pd.DataFrame({C.METRIC: keys,
                          run_label(run_a): [left.get(k) for k in keys],
                          run_label(run_b): [right.get(k) for k in keys]})
    frame = frame.astype({run_label(run_a): "float64", run_label(run_b): "float64"})
    frame[C.CHANGE] = frame[run_label(run_b)] - frame[run_label(run_a)]
    overlap = list_overlap(results.read_recommendations(engine, run_a, catalog_only=True),
                           results.read_recommendations(engine, run_b, catalog_only=True))
    return RunComparison(frame, overlap)


def list_overlap(recs_a: pd.DataFrame, recs_b: pd.DataFrame) -> ListOverlap:
    """Mean Jaccard of the two food sets per user, and the share of users whose rank-1 food is
    the same, over users present in both (catalog lists in the shared columns)."""
    users = set(recs_a[C.USER_ID]) & set(recs_b[C.USER_ID])
    if not users:
        return ListOverlap(0, float("nan"), float("nan"))
    a = recs_a[recs_a[C.USER_ID].isin(users)]
    b = recs_b[recs_b[C.USER_ID].isin(users)]
    shared = a[[C.USER_ID, C.FOOD_ID]].merge(b[[C.USER_ID, C.FOOD_ID]]).groupby(C.USER_ID).size()
    size_a, size_b = a.groupby(C.USER_ID).size(), b.groupby(C.USER_ID).size()
    shared = shared.reindex(size_a.index, fill_value=0)
    jaccard = shared / (size_a + size_b.reindex(size_a.index) - shared)
    top_a = a[a[C.RANK] == 1].set_index(C.USER_ID)[C.FOOD_ID]
    top_b = b[b[C.RANK] == 1].set_index(C.USER_ID)[C.FOOD_ID].reindex(top_a.index)
    return ListOverlap(len(users), float(jaccard.mean()), float((top_a == top_b).mean()))


def export_parquet(engine: sa.Engine, run_id: int) -> bytes:
    """A done run's rows as the Parquet file of ``results.export_run`` (format version inside)."""
    with tempfile.TemporaryDirectory(prefix=f"kurrant_run_{run_id}_") as folder:
        results.export_run(engine, run_id, folder)
        return (Path(folder) / results.EXPORT_FILE).read_bytes()


def default_cutoff(engine: sa.Engine) -> date:
    """The cutoff a retrain uses when none is chosen: the day after the last paid order."""
    return last_service_date(engine) + timedelta(days=1)


def upcoming_menu_days(engine: sa.Engine, cutoff: date | None = None,
                       n: int = DEFAULT_MENU_DAYS) -> list[date]:
    """The first ``n`` service dates with a menu on or after ``cutoff`` (default: the day after
    the last paid order): what a retrain pre-computes unless told otherwise."""
    start = cutoff or default_cutoff(engine)
    menu = schema.mart_daily_menu.c
    query = (sa.select(menu[C.SERVICE_DATE]).where(menu[C.SERVICE_DATE] >= start).distinct()
             .order_by(menu[C.SERVICE_DATE]).limit(n))
    with engine.connect() as conn:
        return [pd.Timestamp(d).date() for d in conn.execute(query).scalars()]
