"""The leaderboard as a PM reads it: which way each metric is better, the interval of each model's
difference to the best baseline, and one verdict per protocol.

The page draws what this returns; the words live in ``kurrant_core.ui_text`` (``lb.*`` keys and
:data:`kurrant_core.ui_text.METRIC_TEXT`), so the sentence reads the same in the CLI or a test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from kurrant_core import columns as C, ui_text
from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.leaderboard import headline_keys, interval_columns

HIGHER, LOWER, CONTEXT = 1, -1, 0
DIRECTION: dict[str, int] = {
    N.HR: HIGHER, N.MRR: HIGHER, N.NDCG: HIGHER, N.RECALL: HIGHER, N.MAP: HIGHER, N.PRECISION: HIGHER,
    N.COVERAGE: HIGHER, N.ILD: HIGHER, N.NOVELTY: HIGHER, N.PERSONALISATION: HIGHER,
    N.CATEGORY_COVERAGE: HIGHER, N.TOP_CATEGORY_SHARE: LOWER, N.EXPOSURE_GINI: LOWER, N.CALIBRATION_ERROR: LOWER,
    N.FIT_SECONDS: LOWER, N.FIT_CPU_SECONDS: LOWER, N.SCORE_SECONDS: LOWER, N.REPEAT_RATE: CONTEXT,
}
"""Which way a metric (its name before ``@k``) is better; CONTEXT: neither, read it beside the data."""
BEATS, TIED, WORSE = "beats", "tied", "worse"


def base_name(metric: str) -> str:
    """``ndcg@10`` -> ``ndcg``; ``cold_mrr`` -> ``mrr``."""
    return metric.split("@")[0].removeprefix(N.COLD)


def direction(metric: str) -> int:
    return DIRECTION.get(base_name(metric), CONTEXT)


def shown_metrics(board: pd.DataFrame, protocol: str, k: int) -> list[str]:
    """The headline metrics a PM sees, without the cold-start copies (folded away on the page)."""
    return [m for m in headline_keys(protocol, k) if not m.startswith(N.COLD) and m in board.columns]


def cold_metrics(board: pd.DataFrame) -> list[str]:
    return [c for c in board.columns if isinstance(c, str) and c.startswith(N.COLD)]


@dataclass(frozen=True)
class Comparison:
    """One learned model against the best baseline on one metric (paired bootstrap 95 % interval)."""

    model: str
    reference: str
    diff: float
    low: float
    high: float

    @property
    def status(self) -> str:
        if self.low > 0:
            return BEATS
        if self.high < 0:
            return WORSE
        return TIED


def comparisons(board: pd.DataFrame, metric: str) -> list[Comparison]:
    """The learned models' intervals against the best baseline on ``metric``, best difference first."""
    reference, diff, low, high = interval_columns(metric)[:4]
    if board.empty or diff not in board.columns:
        return []
    rows = board[~board[N.BASELINE].astype(bool)]
    out = [Comparison(str(r[C.MODEL]), str(r[reference]), float(r[diff]), float(r[low]), float(r[high]))
           for _, r in rows.iterrows()
           if not any(pd.isna(r[c]) for c in (diff, low, high))]
    return sorted(out, key=lambda c: -c.diff)


def interval_frame(board: pd.DataFrame, metric: str) -> pd.DataFrame:
    """MODEL, REFERENCE, diff, low, high, status per learned model: the chart of the differences."""
    rows = [(c.model, c.reference, c.diff, c.low, c.high, c.status) for c in comparisons(board, metric)]
    return pd.DataFrame(rows, columns=[C.MODEL, N.REFERENCE, "diff", "low", "high", "status"])


def verdict(board: pd.DataFrame, metric: str, lang: str = ui_text.DEFAULT_LANGUAGE) -> str:
    """One sentence: who beats every baseline and by how much, who is not distinguishable from the
    best baseline, who is worse ("ncf beats every baseline by 0.050 (0.020 to 0.080); sequential is
    not distinguishable from history")."""
    parts = []
    name = ui_text.metric_name(metric, lang)
    for c in comparisons(board, metric):
        values = {"model": c.model, "reference": c.reference, "metric": name, "diff": f"{abs(c.diff):.3f}",
                  "low": f"{c.low:+.3f}", "high": f"{c.high:+.3f}"}
        parts.append(ui_text.text(f"lb.verdict.{c.status}", lang, **values))
    if not parts:
        return ui_text.text("lb.verdict.none", lang, metric=name)
    return "; ".join(parts) + "."


def summary_frame(board: pd.DataFrame, columns: list[str], headline: str) -> pd.DataFrame:
    """``board[columns]`` with the interval cells of rows that have no interval (the baselines compared
    with themselves, the random ranking) left empty instead of showing Python's None/NaN as text."""
    frame = board[columns].copy()
    reference = interval_columns(headline)[0]
    if reference in frame.columns:
        frame[reference] = frame[reference].map(lambda v: "" if is_missing(v) else str(v))
    return frame


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
