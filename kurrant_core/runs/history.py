"""Run history for the retrain page and the CLI: who trained what when, and how it went.

Also the little data questions the retrain form asks (which menu days come after the cutoff).
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.leaderboard import headline_metrics
from kurrant_core.evaluation.split import last_service_date
from kurrant_core.evaluation.tuning import CHOSEN, FROM_RUN, VALIDATION_FROM, VALIDATION_TO
from kurrant_core.runs.pipeline import DEFAULT_DAYS
from kurrant_core.runs.records import list_runs

_runs = schema.rec_run.c
IS_ACTIVE = _runs.is_active.name
TUNED = C.TUNED
"""Run-history column: the hyper-parameters chosen on the validation window, if the run was tuned."""
HISTORY_COLUMNS = [C.RUN_ID, C.MODEL, _runs.started_at.name, _runs.triggered_by.name,
                   _runs.data_cutoff.name, _runs.train_start.name, _runs.train_end.name, C.DURATION_S,
                   C.STATUS_LABEL, _runs.is_active.name, C.JOB_ID, TUNED]
"""The history's fixed columns; each run's headline metrics follow them."""
DEFAULT_MENU_DAYS = DEFAULT_DAYS


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
    runs = list_runs(engine, model)
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
    runs = list_runs(engine, model)
    return [int(r) for r in runs.loc[runs[_runs.status.name] == schema.RUN_DONE, C.RUN_ID]]


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
