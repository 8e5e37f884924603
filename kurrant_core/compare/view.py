"""What the comparison page shows for one user, setting and set of knobs, from a pool loader.

The page's two costly answers are pure functions of (runs, user, setting, knobs, data version):
the lists side by side (:func:`compare_lists`) and the replay of the last days (:func:`replay_runs`).
Both take ``load_pool(run_id, service_date, dining_type)``, the run's scored candidate pool for the
user (``lists.candidates_for_run``), so a caller can hand in a cached loader and cache the answers
themselves per server (``app_support.compare_view`` / ``compare_replay``): every session that asks
the same question, e.g. everyone opening the page on its default user, shares one computation.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from kurrant_core import columns as C, ui_text
from kurrant_core.compare.lists import ScoredCandidates, SideBySide, side_by_side
from kurrant_core.compare.replay import Replay, history_before, ordered_foods, replay, replay_days
from kurrant_core.rerank import KNOB_NAMES, Policy

PoolLoader = Callable[[int, date | None, int | None], ScoredCandidates]
"""(run_id, service_date, dining_type) -> the run's scored pool for the user being compared."""


@dataclass(frozen=True, eq=False)
class ComparedLists:
    """The lists side by side and what the page needs around them (read-only: it may be shared)."""

    view: SideBySide
    history: pd.DataFrame
    """The user's orders before the service date (all of them for the catalog)."""
    ordered: list[int]
    """Foods the user really ordered in this setting (a past day's menu), else empty."""
    food_names: dict[int, str]
    """Food id -> name for every food in the history and the lists."""
    elapsed_ms: float
    """How long re-ranking and measuring the lists took when they were computed."""


def knob_values(settings: Policy) -> tuple[tuple[str, float | int | bool], ...]:
    """The knobs of ``settings`` as a canonical, hashable key: two policies with equal knobs give
    equal keys whatever the widgets' number types (``Policy.from_knobs(**dict(key))`` rebuilds it)."""
    values = settings.knobs()
    return tuple((name, values[name]) for name in KNOB_NAMES)


def compare_lists(load_pool: PoolLoader, run_ids: Sequence[int], full_history: pd.DataFrame, settings: Policy,
                  *, service_date: date | None = None, dining_type: int | None = None,
                  lang: str = ui_text.EN) -> ComparedLists:
    """Each run's pool re-ranked with ``settings`` (``lists.side_by_side``), against the user's
    history before ``service_date`` and marked with what they ordered that day and meal."""
    history = history_before(full_history, service_date)
    ordered = ordered_foods(full_history, service_date, dining_type)
    scored = [load_pool(int(run_id), service_date, dining_type) for run_id in run_ids]
    started = time.perf_counter()
    view = side_by_side(scored, settings, history, ordered=ordered, lang=lang)
    elapsed_ms = (time.perf_counter() - started) * 1000
    names = dict(zip(full_history[C.FOOD_ID].tolist(), full_history[C.FOOD_NAME].tolist()))
    for column in view.columns:
        names.update(zip(column.food_ids, column.items[C.FOOD_NAME].tolist()))
    return ComparedLists(view, history, ordered, names, elapsed_ms)


def replay_runs(load_pool: PoolLoader, run_ids: Sequence[int], full_history: pd.DataFrame, settings: Policy,
                dining_type: int, until: date, n_days: int) -> Replay:
    """The replay strip (``replay.replay``) over the last ``n_days`` days up to ``until`` on which the
    user ordered ``dining_type``; no days (``Replay.days`` empty) when they never did."""
    days = replay_days(full_history, dining_type, until, n_days)
    pools = [[load_pool(int(run_id), day, dining_type) for run_id in run_ids] for day in days]
    return replay(pools, days, settings, full_history, dining_type)
