"""Fusion rules: how several members' rankings of the same candidates become one ranking.

Pure numpy, no models, no database: every rule takes one array per member, shaped like the
candidates (a users x foods block, or one list), with NaN where the member did not list a food
(a stored top-k list is partial), and returns the fused score (higher = better; NaN where no
member listed the food, so it drops out as in the members' own lists).

- ``rrf`` (reciprocal rank fusion): sum over members of w / (k + rank), rank 1 = the member's best;
  a food a member did not list adds nothing. Robust to scores on different scales.
- ``blend``: sum of w x the member's score min-max normalised within the list (best = 1, worst
  listed = 0; a list of equal scores is all 1); a food the member did not list counts 0.
- ``stacked``: ``blend`` whose weights were learned on the validation window (``stacking``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kurrant_core.errors import KurrantError

RRF, BLEND, STACKED = "rrf", "blend", "stacked"
RULES = (RRF, BLEND, STACKED)
DEFAULT_RRF_K = 60.0
"""The constant of Cormack et al. (2009): damps the weight of the very first ranks."""


def check_rule(rule: str, rrf_k: float = DEFAULT_RRF_K, weights: Sequence[float] | None = None,
               n_members: int | None = None) -> None:
    """Refuse a rule or setting the fusion cannot use (KurrantError says what to pass instead)."""
    if rule not in RULES:
        raise KurrantError(f"Unknown ensemble rule {rule!r}; choose one of {', '.join(RULES)}.")
    if not np.isfinite(rrf_k) or rrf_k < 0:
        raise KurrantError(f"The RRF constant k must be a number >= 0, not {rrf_k}.")
    if weights is not None:
        w = np.asarray(list(weights), dtype=float)
        if n_members is not None and len(w) != n_members:
            raise KurrantError(f"{len(w)} weights were given for {n_members} members; give one per member.")
        if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise KurrantError("Ensemble weights must be numbers >= 0, not all 0.")


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1..n along the last axis (1 = highest score; ties keep the candidates' order); NaN
    (not listed) stays NaN."""
    scores = np.asarray(scores, dtype=float)
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-keyed, axis=-1, kind="stable")
    out = np.empty_like(scores)
    np.put_along_axis(out, order, np.broadcast_to(np.arange(1, scores.shape[-1] + 1, dtype=float),
                                                  scores.shape).copy(), axis=-1)
    out[np.isnan(scores)] = np.nan
    return out


def normalised(scores: np.ndarray) -> np.ndarray:
    """Min-max along the last axis over the listed (non-NaN) entries: best 1, worst 0; a list of
    equal scores is all 1; NaN stays NaN."""
    scores = np.asarray(scores, dtype=float)
    with np.errstate(all="ignore"):
        low = np.nanmin(np.where(np.isnan(scores), np.inf, scores), axis=-1, keepdims=True)
        high = np.nanmax(np.where(np.isnan(scores), -np.inf, scores), axis=-1, keepdims=True)
        span = high - low
        out = np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 1.0)
    out[np.isnan(scores)] = np.nan
    return out


def weights_or_equal(weights: Sequence[float] | None, n_members: int) -> np.ndarray:
    """The given weights (as floats), or 1 for every member."""
    return np.ones(n_members) if weights is None else np.asarray(list(weights), dtype=float)


def fuse_ranks(member_ranks: Sequence[np.ndarray], rrf_k: float = DEFAULT_RRF_K,
               weights: Sequence[float] | None = None) -> np.ndarray:
    """Reciprocal rank fusion of the members' ranks (NaN = not listed)."""
    w = weights_or_equal(weights, len(member_ranks))
    stacked = np.stack([np.asarray(r, dtype=float) for r in member_ranks])
    contributions = w.reshape((-1,) + (1,) * (stacked.ndim - 1)) / (rrf_k + stacked)
    listed = ~np.isnan(stacked)
    out = np.where(listed, contributions, 0.0).sum(axis=0)
    out[~listed.any(axis=0)] = np.nan
    return out


def fuse_normalised(member_normalised: Sequence[np.ndarray],
                    weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted sum of the members' normalised scores (NaN = not listed, counts 0)."""
    w = weights_or_equal(weights, len(member_normalised))
    stacked = np.stack([np.asarray(s, dtype=float) for s in member_normalised])
    listed = ~np.isnan(stacked)
    out = (w.reshape((-1,) + (1,) * (stacked.ndim - 1)) * np.where(listed, stacked, 0.0)).sum(axis=0)
    out[~listed.any(axis=0)] = np.nan
    return out


def fuse(rule: str, member_scores: Sequence[np.ndarray], *, rrf_k: float = DEFAULT_RRF_K,
         weights: Sequence[float] | None = None,
         member_ranks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The fused score of every candidate under ``rule``, from each member's scores over the same
    candidates (lists along the last axis; NaN = not listed). ``member_ranks`` (e.g. the ranks a
    member stored) replace the ranks derived from the scores for RRF."""
    if rule == RRF:
        return fuse_ranks(member_ranks if member_ranks is not None else
                          [ranks(s) for s in member_scores], rrf_k, weights)
    return fuse_normalised([normalised(s) for s in member_scores], weights)
