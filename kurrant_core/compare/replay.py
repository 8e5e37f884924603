"""The pick of the day, replayed: would each model's #1 have been what the user really ordered?

The production task is the "AI pick of the day": rank 1 of the user's group menu for a date and
meal. For a past date the answer is known, so the comparison page marks the ordered food in every
list and shows, for the last N days on which the user ordered that meal, each model's pick beside
the actual order and the hit rate over those days (HR@1 of the daily-menu protocol, for one user).

Everything here is plain computation over the user's history (:func:`users.user_history`) and the
lists :func:`lists.side_by_side` made, so the page only draws it and tests can check it by hand.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from kurrant_core import columns as C
from kurrant_core.compare.lists import ScoredCandidates, side_by_side
from kurrant_core.rerank import Policy

DEFAULT_REPLAY_DAYS = 5
MAX_REPLAY_DAYS = 20


def _days(history: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(history[C.SERVICE_DATE]).dt.date


def history_before(history: pd.DataFrame, service_date: date | None) -> pd.DataFrame:
    """The user's orders strictly before ``service_date`` (all of them for None): what a model
    serving that day could have known."""
    if service_date is None or history.empty:
        return history
    return history[_days(history) < service_date].reset_index(drop=True)


def ordered_foods(history: pd.DataFrame, service_date: date | None, dining_type: int | None) -> list[int]:
    """Food ids the user paid for on that date and meal, in order (empty for the catalog or no order)."""
    if service_date is None or dining_type is None or history.empty:
        return []
    day = history[(_days(history) == service_date) & (history[C.DINING_TYPE] == int(dining_type))]
    return list(dict.fromkeys(int(f) for f in day[C.FOOD_ID]))


def replay_days(history: pd.DataFrame, dining_type: int, until: date, n: int = DEFAULT_REPLAY_DAYS) -> list[date]:
    """The last ``n`` service dates up to ``until`` (inclusive) on which the user ordered ``dining_type``,
    oldest first: the days whose picks can be checked."""
    if history.empty or n <= 0:
        return []
    days = _days(history)
    served = sorted({d for d, meal in zip(days, history[C.DINING_TYPE]) if meal == int(dining_type) and d <= until})
    return served[-int(n):]


def is_hit(pick: int | None, ordered: Collection[int]) -> bool:
    """A pick hits when the user ordered it that day (a day without a pick is a miss)."""
    return pick is not None and int(pick) in {int(f) for f in ordered}


def hit_rate(picks: Sequence[int | None], ordered: Sequence[Collection[int]]) -> float:
    """Share of the days whose pick the user ordered: HR@1 over those days (NaN without a day).

    ``picks[i]`` is the model's #1 on day i and ``ordered[i]`` what the user ordered that day.
    """
    if len(picks) != len(ordered):
        raise ValueError("one pick per day with an order")
    if not picks:
        return math.nan
    return sum(is_hit(p, o) for p, o in zip(picks, ordered)) / len(picks)


@dataclass(frozen=True)
class Replay:
    """The replay strip: one row per day (DAY, ACTUAL_ORDER, then per list its pick and hit) and
    each list's hit rate and number of hits."""

    days: list[date]
    table: pd.DataFrame
    hit_rates: dict[str, float]
    hits: dict[str, int]


def replay_summary(picks: Mapping[str, Sequence[int | None]], ordered: Sequence[Collection[int]],
                   days: Sequence[date], names: Mapping[int, str]) -> Replay:
    """Assemble the strip from each list's pick per day (``picks[label][i]`` on ``days[i]``) and
    the foods ordered per day; ``names`` maps food ids to display names.

    The table holds, per list, PICK_NAME-like text columns named by the list's label (the food and
    a ✅/❌ mark) so the page can show it as is; the rates come from :func:`hit_rate`.
    """
    def name(food: int | None) -> str:
        return "–" if food is None else str(names.get(int(food), f"#{int(food)}"))

    table = pd.DataFrame({C.SERVICE_DATE: list(days),
                          C.ACTUAL_ORDER: [", ".join(name(f) for f in foods) for foods in ordered]})
    for label, day_picks in picks.items():
        table[label] = [("✅ " if is_hit(p, o) else "❌ ") + name(p) for p, o in zip(day_picks, ordered)]
    rates = {label: hit_rate(list(day_picks), list(ordered)) for label, day_picks in picks.items()}
    hits = {label: sum(is_hit(p, o) for p, o in zip(day_picks, ordered)) for label, day_picks in picks.items()}
    return Replay(list(days), table, rates, hits)


def replay(pools_by_day: Sequence[Sequence[ScoredCandidates]], days: Sequence[date], settings: Policy,
           history: pd.DataFrame, dining_type: int, names: Mapping[int, str] | None = None) -> Replay:
    """Each compared run's #1 on each of ``days`` (its pools there, re-ranked by ``settings`` as the
    page shows them, with only the history before that day), against what the user ordered.

    ``pools_by_day[i]`` holds the runs' scored pools for ``days[i]``, in the same run order every day.
    """
    names = dict(names or {})
    picks: dict[str, list[int | None]] = {}
    ordered = []
    for day, pools in zip(days, pools_by_day):
        view = side_by_side(pools, settings, history_before(history, day))
        ordered.append(ordered_foods(history, day, dining_type))
        for column in view.columns:
            picks.setdefault(column.label, []).append(column.pick)
            names.update(zip(column.food_ids, column.items[C.FOOD_NAME].tolist()))
    names.update(zip(history[C.FOOD_ID].tolist(), history[C.FOOD_NAME].tolist()))
    return replay_summary(picks, ordered, days, names)
