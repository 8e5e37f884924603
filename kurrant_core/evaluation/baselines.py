"""The baselines every evaluation carries, and each model's paired interval against the best one.

Baselines: ``popularity`` (what the group eats lately), ``history`` (what the user usually eats)
and a random ranking (in expectation, from the same events and candidates). For each headline
metric the best baseline is the one with the highest mean; every model gets the paired bootstrap
interval of its difference to that baseline (``intervals.paired_bootstrap``, users resampled),
and it "beats the baselines" on that metric only when the interval lies above zero.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.intervals import paired_bootstrap
from kurrant_core.evaluation.protocols import DAILY_INTERVAL_KEYS, catalog_interval_keys, random_key
from kurrant_core.models import BASELINE_NAMES

BASELINES = (*BASELINE_NAMES, N.RANDOM)


def is_baseline(model: str) -> bool:
    return model in BASELINES


def pooled(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per-user frames of several backtest folds as one: a (fold, user) pair is one unit."""
    if len(frames) == 1:
        return frames[0]
    return pd.concat(list(frames), keys=range(len(frames)))


def random_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """The random ranking's per-user daily-menu sums, read off any model's per-user frame (the
    expectation depends on the menus, not on the model)."""
    frame = daily[[random_key(key) for key in DAILY_INTERVAL_KEYS]].copy()
    frame.columns = list(DAILY_INTERVAL_KEYS)
    frame[N.N_EVENTS] = daily[N.N_EVENTS]
    return frame


def _means(frame: pd.DataFrame, keys: Sequence[str], weight: str | None) -> dict[str, float]:
    if weight is None:
        return {key: float(frame[key].mean()) if len(frame) else float("nan") for key in keys}
    total = float(frame[weight].sum())
    return {key: float(frame[key].sum() / total) if total else float("nan") for key in keys}


def compare_protocol(per_user: Mapping[str, pd.DataFrame], keys: Sequence[str],
                     weight: str | None, only: Sequence[str] | None = None) -> tuple[dict[str, dict], dict[str, float]]:
    """(model -> metric -> interval against the best baseline, the baselines' means per metric).

    ``per_user`` maps every ranker (the random one included, as ``N.RANDOM``) to its per-user
    frame (index: the user units; ``weight`` the column of per-user denominators, None = 1).
    ``only``: the rankers whose intervals are wanted (default all; the best baseline is still
    chosen among every baseline given) -- a retrain scoring one model needs its own.
    """
    means = {name: _means(frame, keys, weight) for name, frame in per_user.items()}
    present = [b for b in BASELINES if b in per_user]
    out: dict[str, dict] = {name: {} for name in per_user}
    for key in keys:
        candidates = [b for b in present if not np.isnan(means[b][key])]
        if not candidates:
            continue
        best = max(candidates, key=lambda b: means[b][key])
        reference = per_user[best]
        for name, frame in per_user.items():
            if only is not None and name not in only:
                continue
            units = frame.index.union(reference.index)
            a = frame[key].reindex(units, fill_value=0.0).to_numpy()
            b = reference[key].reindex(units, fill_value=0.0).to_numpy()
            w = None if weight is None else np.maximum(
                frame[weight].reindex(units, fill_value=0.0).to_numpy(),
                reference[weight].reindex(units, fill_value=0.0).to_numpy())
            interval = paired_bootstrap(a, b, w)
            out[name][key] = {N.REFERENCE: best, **interval.to_dict(), N.BEATS_BASELINES: interval.above_zero}
    return out, {key: means[N.RANDOM][key] for key in keys} if N.RANDOM in means else {}


def compare_to_baselines(daily: Mapping[str, pd.DataFrame], catalog: Mapping[str, pd.DataFrame],
                         random_catalog: pd.DataFrame, k: int,
                         only: Sequence[str] | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """Both protocols: (model -> {protocol: {metric: interval}}, {protocol: random's means}).

    ``daily``/``catalog`` map model names to their (pooled) per-user frames; the random ranking is
    added here: daily from the menus of any model's frame, catalog from ``random_catalog``.
    ``only`` limits the intervals to those models (see ``compare_protocol``).
    """
    daily = dict(daily)
    catalog = dict(catalog)
    if daily:
        daily[N.RANDOM] = random_daily(next(iter(daily.values())))
    catalog[N.RANDOM] = random_catalog
    daily_cmp, daily_random = compare_protocol(daily, DAILY_INTERVAL_KEYS, N.N_EVENTS, only)
    catalog_cmp, catalog_random = compare_protocol(catalog, catalog_interval_keys(k), None, only)
    versus = {name: {N.DAILY_MENU: daily_cmp.get(name, {}), N.CATALOG: catalog_cmp.get(name, {})}
              for name in set(daily_cmp) | set(catalog_cmp)}
    return versus, {N.DAILY_MENU: daily_random, N.CATALOG: catalog_random}
