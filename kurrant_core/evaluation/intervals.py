"""Paired bootstrap intervals: is a model's lead over the best baseline more than luck?

Two rankers scored on the same test users are compared user by user: resample the users with
replacement (the same draw for both, hence *paired*), recompute the difference of the metric,
and take the 2.5 % and 97.5 % quantiles of the differences (the percentile interval). A model
"beats the baselines" on a metric only when that interval lies above 0.

A metric is a ratio of per-user sums: the catalog metrics are means over users (numerator = the
user's value, weight 1), the daily-menu metrics means over order events (numerator = the sum
over the user's events, weight = their number of events), so resampling users keeps a user's
events together.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_SEED = 20231
"""Fixed, so that the same evaluation gives the same interval every time."""
BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
_CHUNK = 50
"""Bootstrap replicates drawn at once (bounds memory on a large world: chunk x users weights)."""


@dataclass(frozen=True)
class Interval:
    """The observed difference (model - reference) and its bootstrap interval."""

    diff: float
    low: float
    high: float

    @property
    def above_zero(self) -> bool:
        return bool(self.low > 0)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_bootstrap(values_a: np.ndarray, values_b: np.ndarray, weights: np.ndarray | None = None, *,
                     n_samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE,
                     seed: int = BOOTSTRAP_SEED) -> Interval:
    """Interval of sum(a) / sum(w) - sum(b) / sum(w) over users resampled with replacement.

    ``values_a[j]``, ``values_b[j]`` are user j's numerators under the two rankers (the same users,
    aligned); ``weights[j]`` their shared denominator (default 1: a plain mean over users).
    """
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    if not a.shape == b.shape == w.shape or a.ndim != 1:
        raise ValueError("values_a, values_b and weights must be 1-D arrays of the same length")
    if a.size == 0 or w.sum() <= 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    d = a - b
    rng = np.random.default_rng(seed)
    uniform = np.full(a.size, 1.0 / a.size)
    replicates = []
    for start in range(0, n_samples, _CHUNK):
        counts = rng.multinomial(a.size, uniform, size=min(_CHUNK, n_samples - start)).astype(float)
        total_w = counts @ w
        replicates.append(np.divide(counts @ d, total_w, out=np.zeros(len(counts)), where=total_w > 0))
    draws = np.concatenate(replicates)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Interval(float(d.sum() / w.sum()), float(low), float(high))
