"""Capacities that bind: each maker's and food's daily capacity drawn from the demand it really gets.

Production makers cook close to what they can on busy days, and a few popular dishes sell out; the
first demo world drew capacities independently of demand (a maker's paid load was a median 6 % of
its capacity), so a planner would never have met a limit. Here capacities follow the simulated
load: a maker's capacity per dining type is its busiest day's load plus a small margin (so most
makers are near capacity on busy days), a food's is its busiest day's load plus a margin, except for
a few over-subscribed foods whose capacity is below their busiest days' demand.

The simulation itself does not enforce capacity (orders were simulated first), so on their busiest
days the over-subscribed foods carry more orders than their capacity; the rest of the world is
unchanged, and a separate random stream keeps every other table identical for a seed.
"""
from __future__ import annotations

import numpy as np

MAKER_MARGIN = (1.0, 1.2)
"""A maker's capacity = its busiest day's load x U(MAKER_MARGIN), rounded up to tens."""
FOOD_MARGIN = (1.1, 1.5)
OVERSUBSCRIBED_SHARE = 0.05
"""Share of the ordered foods whose capacity is below their busiest day's demand."""
OVERSUBSCRIBED_LEVEL = (0.6, 0.85)
IDLE_CAPACITY = (1, 4)
"""Makers and foods never ordered for a dining type get 10-30 portions."""


def _round_up_10(x: np.ndarray) -> np.ndarray:
    """Round up to tens as kitchens plan (whole portions below 50, where tens would double it)."""
    x = np.asarray(x, dtype=float)
    return np.where(x >= 50, np.ceil(x / 10.0) * 10, np.ceil(x)).astype(np.int64)


def peak_loads(keys: np.ndarray, day: np.ndarray, count: np.ndarray, n_keys: int) -> np.ndarray:
    """The largest total ``count`` any one day carried, per key (0..n_keys-1)."""
    if len(keys) == 0:
        return np.zeros(n_keys, dtype=np.int64)
    pair, inverse = np.unique(np.stack([keys, day]), axis=1, return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=count, minlength=pair.shape[1])
    peak = np.zeros(n_keys, dtype=np.int64)
    np.maximum.at(peak, pair[0], totals.astype(np.int64))
    return peak


def maker_capacity(rng: np.random.Generator, peak: np.ndarray, served: np.ndarray) -> np.ndarray:
    """Capacity per (maker, dining type) from its peak load; 0 where the maker does not serve."""
    margin = rng.uniform(*MAKER_MARGIN, size=peak.shape)
    idle = rng.integers(*IDLE_CAPACITY, size=peak.shape) * 10
    cap = np.where(peak > 0, _round_up_10(np.maximum(peak * margin, peak + 1)), idle)
    return cap * served


def food_capacity(rng: np.random.Generator, peak: np.ndarray) -> np.ndarray:
    """Capacity per food row from its peak load; a few ordered foods are over-subscribed."""
    margin = rng.uniform(*FOOD_MARGIN, size=peak.shape)
    cap = np.where(peak > 0, _round_up_10(np.maximum(peak * margin, peak + 1)),
                   rng.integers(*IDLE_CAPACITY, size=peak.shape) * 10)
    ordered = np.flatnonzero(peak >= 5)
    n_over = int(round(OVERSUBSCRIBED_SHARE * len(ordered)))
    if n_over:
        over = rng.choice(ordered, size=n_over, replace=False)
        level = rng.uniform(*OVERSUBSCRIBED_LEVEL, size=n_over)
        cap[over] = np.maximum(1, np.floor(peak[over] * level)).astype(np.int64)
    return cap
