"""The leaderboard and the trade-off curves, read back from evaluated runs in ``rec_run``.

An evaluated run is a done run whose ``metrics`` JSON holds an ``evaluation`` entry (written by
``harness.evaluate``). Models are only compared on the same split: by default the newest
evaluated (cutoff, horizon, k); the latest run of each model on that split makes one row.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.baselines import is_baseline
from kurrant_core.runs.records import list_runs

_runs = schema.rec_run.c
METRICS = _runs.metrics.name
"""The rec_run column holding the stored evaluation (and the key of a run record holding it)."""
SPLIT_COLUMNS = [C.DATA_CUTOFF, C.HORIZON_DAYS, N.K]


def headline_keys(protocol: str, k: int) -> list[str]:
    """The metrics a leaderboard shows first, the first of them being the one it sorts by."""
    if protocol == N.DAILY_MENU:
        return [N.MRR, N.at_k(N.HR, 1), N.at_k(N.HR, 3), N.NDCG, N.cold(N.MRR)]
    if protocol == N.CATALOG:
        return [N.at_k(N.NDCG, k), N.at_k(N.RECALL, k), N.at_k(N.HR, k), N.at_k(N.MAP, k), N.MRR,
                N.COVERAGE, N.ILD, N.NOVELTY, N.EXPOSURE_GINI, N.PERSONALISATION,
                N.CALIBRATION_ERROR, N.REPEAT_RATE]
    raise KurrantError(f"Unknown protocol {protocol!r}; choose one of {', '.join(N.PROTOCOLS)}.")


def summary_columns(board: pd.DataFrame, protocol: str, k: int) -> list[str]:
    """The columns of a leaderboard worth printing on one screen: model, baseline mark, run, the
    headline metrics, the interval of the first one against the best baseline, the seconds spent."""
    first = headline_keys(protocol, k)[0]
    wanted = [C.MODEL, N.BASELINE, C.RUN_ID, *headline_keys(protocol, k), *interval_columns(first),
              N.FIT_SECONDS, N.FIT_CPU_SECONDS, N.SCORE_SECONDS]
    return [c for c in wanted if c in board.columns]


INTERVAL_FIELDS = (N.REFERENCE, "diff", "low", "high", N.BEATS_BASELINES)


def interval_columns(metric: str) -> list[str]:
    """Leaderboard columns of a metric's interval against the best baseline: ``mrr vs``
    (the baseline), ``mrr diff``, ``mrr low``, ``mrr high``, ``mrr beats_baselines``."""
    return [f"{metric} {'vs' if field == N.REFERENCE else field}" for field in INTERVAL_FIELDS]


def models_beating_baselines(board: pd.DataFrame, metric: str) -> list[str]:
    """The non-baseline models of a leaderboard whose interval on ``metric`` lies above 0."""
    column = interval_columns(metric)[-1]
    if column not in board or board.empty:
        return []
    beats = board[column].astype("boolean").fillna(False) & ~board[N.BASELINE].astype(bool)
    return board.loc[beats.to_numpy(dtype=bool), C.MODEL].tolist()


def _interval_cells(stored: dict, protocol: str) -> dict[str, Any]:
    cells = {}
    for metric, interval in stored.get(N.VERSUS_BASELINE, {}).get(protocol, {}).items():
        cells.update({column: interval.get(field) for column, field
                      in zip(interval_columns(metric), INTERVAL_FIELDS)})
    return cells


def evaluated_runs(engine: sa.Engine) -> pd.DataFrame:
    """Done runs that carry an evaluation, newest first: model, run id, split, stored metrics."""
    runs = list_runs(engine)
    rows = []
    for run in runs.itertuples(index=False):
        run = run._asdict()
        stored = json.loads(run[METRICS]) if isinstance(run[METRICS], str) else {}   # NULL -> NaN
        if run[_runs.status.name] != schema.RUN_DONE or N.EVALUATION not in stored:
            continue
        split = stored[N.EVALUATION]
        rows.append({C.MODEL: run[_runs.model.name], C.RUN_ID: int(run[C.RUN_ID]),
                     C.DATA_CUTOFF: date.fromisoformat(split[C.DATA_CUTOFF]),
                     C.HORIZON_DAYS: int(split[C.HORIZON_DAYS]), N.K: int(split[N.K]),
                     METRICS: stored})
    return pd.DataFrame(rows, columns=[C.MODEL, C.RUN_ID, *SPLIT_COLUMNS, METRICS])


def evaluation_splits(engine: sa.Engine) -> pd.DataFrame:
    """The distinct (cutoff, horizon, k) evaluated so far, newest run first."""
    return evaluated_runs(engine)[SPLIT_COLUMNS].drop_duplicates().reset_index(drop=True)


def _runs_on_split(engine: sa.Engine, cutoff: date | None) -> pd.DataFrame:
    runs = evaluated_runs(engine)
    if runs.empty:
        return runs
    if cutoff is not None:
        runs = runs[runs[C.DATA_CUTOFF] == cutoff]
        if runs.empty:
            raise KurrantError(f"No evaluated run has cutoff {cutoff}. Run `python -m kurrant_core "
                               f"evaluate --cutoff {cutoff}` or pick a cutoff from the list.")
    newest = runs.iloc[0]
    same = (runs[SPLIT_COLUMNS] == newest[SPLIT_COLUMNS]).all(axis=1)
    return runs[same].drop_duplicates(C.MODEL)          # newest first, so the latest per model


def leaderboard_frame(runs: list[dict[str, Any]], protocol: str) -> pd.DataFrame:
    """One row per run (``{model, run_id, metrics}``, metrics as stored), best first, with the
    baseline mark, each headline metric's interval against the best baseline, and the random
    ranking's expectation as a row of its own (no run)."""
    if not runs:
        return pd.DataFrame(columns=[C.MODEL, C.RUN_ID])
    k = int(runs[0][METRICS][N.EVALUATION][N.K])
    first = headline_keys(protocol, k)
    rows = [{C.MODEL: r[C.MODEL], N.BASELINE: bool(r[METRICS].get(N.BASELINE, is_baseline(r[C.MODEL]))),
             C.RUN_ID: r[C.RUN_ID], **r[METRICS][protocol], **_interval_cells(r[METRICS], protocol)}
            for r in runs]
    random = runs[0][METRICS].get(N.RANDOM, {}).get(protocol)
    if random:
        rows.append({C.MODEL: N.RANDOM, N.BASELINE: True, C.RUN_ID: None, **random})
    frame = pd.DataFrame(rows)
    frame[C.RUN_ID] = frame[C.RUN_ID].astype("Int64")
    lead = (C.MODEL, N.BASELINE, C.RUN_ID)
    ordered = [*lead, *[c for c in first if c in frame],
               *[c for c in frame if c not in first and c not in lead]]
    return (frame[ordered].sort_values(first[0], ascending=False, na_position="last")
            .reset_index(drop=True))


def leaderboard(engine: sa.Engine, protocol: str = N.DAILY_MENU, *,
                cutoff: date | None = None) -> pd.DataFrame:
    """The latest evaluated run of each model on one split (default: the newest), best first.

    Columns: model, run_id, the protocol's headline metrics, then every other stored metric
    (``fit_seconds``, ``score_seconds`` included). Empty when nothing was evaluated yet.
    """
    runs = _runs_on_split(engine, cutoff)
    return leaderboard_frame(runs.to_dict("records"), protocol)


def tradeoff_curves(engine: sa.Engine, *, cutoff: date | None = None) -> pd.DataFrame:
    """NDCG@k and intra-list diversity per MMR lambda for the leaderboard's runs (long format:
    model, run_id, mmr_lambda, ndcg, ild), one curve per model."""
    rows = [{C.MODEL: run[C.MODEL], C.RUN_ID: run[C.RUN_ID], **point}
            for run in _runs_on_split(engine, cutoff).to_dict("records")
            for point in run[METRICS].get(N.TRADEOFF, [])]
    return pd.DataFrame(rows, columns=[C.MODEL, C.RUN_ID, C.MMR_LAMBDA, N.NDCG, N.ILD])


def headline_metrics(stored: dict | None) -> dict[str, float]:
    """A few figures to show beside a run in a run list (empty for a run never evaluated)."""
    if not stored or N.EVALUATION not in stored:
        return {}
    k = int(stored[N.EVALUATION][N.K])
    menu, catalog = stored.get(N.DAILY_MENU, {}), stored.get(N.CATALOG, {})
    picks = {f"menu {key}": menu.get(key) for key in (N.at_k(N.HR, 1), N.MRR)}
    picks.update({f"catalog {key}": catalog.get(key) for key in (N.at_k(N.NDCG, k), N.COVERAGE, N.ILD)})
    return {key: value for key, value in picks.items() if value is not None}


POLICY_COST_FIGURES = ((N.DAILY_MENU, N.MRR), (N.DAILY_MENU, N.at_k(N.HR, 1)), (N.CATALOG, None),
                       (N.CATALOG, N.CALIBRATION_ERROR), (N.CATALOG, N.CATEGORY_COVERAGE))
"""(protocol, metric) pairs the cost-of-diversity table shows; None = the catalog's NDCG@k."""


def policy_costs(engine: sa.Engine, *, cutoff: date | None = None) -> pd.DataFrame:
    """Per model on the leaderboard's split: each figure without and with the run's policy, and
    the change, plus the share of group-days whose pick of the day converged (majority pick)."""
    rows = []
    for run in _runs_on_split(engine, cutoff).to_dict("records"):
        stored = run[METRICS]
        shipped = stored.get(N.WITH_POLICY)
        if not shipped:
            continue
        k = int(stored[N.EVALUATION][N.K])
        row = {C.MODEL: run[C.MODEL], N.POLICY: (shipped.get(N.POLICY) or {}).get("name")}
        for protocol, metric in POLICY_COST_FIGURES:
            metric = metric or N.at_k(N.NDCG, k)
            off, on = stored[protocol].get(metric), shipped[protocol].get(metric)
            row[f"{metric} off"], row[f"{metric} policy"] = off, on
            row[f"{metric} change"] = None if off in (None, 0) or on is None else on / off - 1
        for label, figures in (("off", stored.get(N.CONVERGENCE, {})),
                               ("policy", shipped.get(N.CONVERGENCE, {}))):
            row[f"majority pick days {label}"] = figures.get("majority_pick_days")
        row["majority order days"] = stored.get(N.CONVERGENCE, {}).get("majority_order_days")
        rows.append(row)
    return pd.DataFrame(rows)
