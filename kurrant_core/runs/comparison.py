"""Two done runs side by side: their stored metrics and how much their catalog lists agree."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import names as N
from kurrant_core.runs.reading import read_recommendations
from kurrant_core.runs.records import get_run


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
    a, b = get_run(engine, run_a), get_run(engine, run_b)
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
    overlap = list_overlap(read_recommendations(engine, run_a, catalog_only=True),
                           read_recommendations(engine, run_b, catalog_only=True))
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
