"""The diversity re-ranker for thousands of lists at once: the same lists as ``rerank``, in arrays.

A run writes a list for every active user and every menu day (on the large world about 180,000
lists); one ``CandidateSet`` object per list made object construction, not arithmetic, the cost.
A ``CandidateBlock`` holds every pool of a batch as padded rows (users x pool width), and
``rerank_block`` runs ``rerank``'s steps row-wise: the allergy mask and repeat window, the per-list
normalisation and popularity penalty, seeded exploration, calibration on one shared cuisine axis,
the caps and the history cap, with the greedy pass of ``rerank.greedy_rows`` (the one
``rerank_many`` uses). ``spread_block`` is ``policies.spread_first_picks`` on the same rows.

MMR and DPP (kernel products per list) are not batched: ``policies.apply_policy`` sends policies
with them through the per-list path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kurrant_core.metrics import CALIBRATION_ALPHA
from kurrant_core.rerank import NO_CAP, Policy, greedy_rows, normalise_relevance


@dataclass(frozen=True, eq=False)
class CandidateBlock:
    """Many users' candidate pools as padded rows (the fields of ``rerank.CandidateSet``).

    Row r is user ``user_ids[r]``; ``valid[r]`` marks the row's real candidates, best model score
    first (padding follows). ``mix`` holds each user's share of orders per cuisine of
    ``category_axis`` (a zero row for a cold user: no calibration, no history cap).
    """

    user_ids: np.ndarray          # (rows,)
    food_ids: np.ndarray          # (rows, width)
    valid: np.ndarray             # (rows, width) bool
    relevance: np.ndarray         # (rows, width) the model's scores
    category: np.ndarray          # (rows, width) cuisine codes
    maker: np.ndarray             # (rows, width)
    popularity: np.ndarray        # (rows, width) paid items before the cutoff
    days_since_eaten: np.ndarray  # (rows, width) inf = never
    allergen: np.ndarray          # (rows, width) bool
    mix: np.ndarray               # (rows, len(category_axis))
    category_axis: np.ndarray     # (categories,) sorted cuisine codes

    @property
    def lengths(self) -> np.ndarray:
        return self.valid.sum(axis=1)


@dataclass(frozen=True)
class BlockLists:
    """Re-ranked lists: ``positions`` (rows x depth) index each row's pool, best first, -1 after
    the row's last pick; ``scores`` the policy's working relevance of each pick (NaN after)."""

    positions: np.ndarray
    scores: np.ndarray

    @property
    def picked(self) -> np.ndarray:
        return self.positions >= 0


def admissible_block(block: CandidateBlock, repeat_window_days: int | None) -> np.ndarray:
    """``rerank.admissible`` per row: real candidates without allergens, not eaten in the window."""
    keep = block.valid & ~block.allergen
    if repeat_window_days is not None:
        days = block.days_since_eaten
        keep &= ~((days >= 1) & (days <= repeat_window_days))
    return keep


def _minmax_rows(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``normalise_relevance(row[keep])`` (min-max) for every row, 0 outside ``keep``."""
    high = np.where(keep, values, -np.inf).max(axis=1, initial=-np.inf)[:, None]
    low = np.where(keep, values, np.inf).min(axis=1, initial=np.inf)[:, None]
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(spread > 0, (values - low) / np.where(spread > 0, spread, 1.0), 0.0)
    return np.where(keep, out, 0.0)


def _per_row(values: np.ndarray, keep: np.ndarray, method: str) -> np.ndarray:
    """``normalise_relevance`` of each row's kept cells (z-score goes row by row: its mean and
    deviation must sum in the same order as the one-list re-ranker's)."""
    if method != "zscore":
        return _minmax_rows(values, keep)
    out = np.zeros_like(values, dtype=float)
    for r in np.flatnonzero(keep.any(axis=1)):
        out[r, keep[r]] = normalise_relevance(values[r, keep[r]], method)
    return out


def working_relevance(block: CandidateBlock, policy: Policy, keep: np.ndarray) -> np.ndarray:
    """Steps 3-5 of ``rerank``: normalised, popularity-penalised, explored relevance per row."""
    w = _per_row(block.relevance.astype(float), keep, policy.normalisation)
    if policy.popularity_penalty:
        w = np.where(keep, w - policy.popularity_penalty * _minmax_rows(np.log1p(block.popularity), keep), 0.0)
    if policy.explore_temperature:
        for r in np.flatnonzero(keep.any(axis=1)):
            seed = policy.seed if policy.seed is None else [policy.seed, int(block.user_ids[r])]
            noise = np.random.default_rng(seed).gumbel(size=int(keep[r].sum()))
            w[r, keep[r]] = w[r, keep[r]] + policy.explore_temperature * noise
    return w


def rerank_block(block: CandidateBlock, policy: Policy, ks: np.ndarray) -> BlockLists:
    """``rerank(pool_r, replace(policy, k=ks[r]))`` for every row (no MMR or DPP), topped up as
    ``policies._filled`` does when the caps leave a row short."""
    if policy.mmr_lambda is not None or policy.dpp_theta is not None:
        raise ValueError("rerank_block does not batch MMR or DPP; re-rank those lists one by one")
    ks = np.asarray(ks, np.int64)
    keep = admissible_block(block, policy.repeat_window_days)
    w = working_relevance(block, policy, keep)
    totals = block.mix.sum(axis=1, keepdims=True)
    has_mix = totals[:, 0] > 0
    calibration = None
    if policy.calibration_lambda is not None:
        target = np.divide(block.mix, totals, out=np.zeros_like(block.mix, dtype=float), where=totals > 0)
        cat_idx = np.searchsorted(block.category_axis, block.category).clip(0, len(block.category_axis) - 1)
        lam = np.where(has_mix, policy.calibration_lambda, 0.0)
        calibration = (cat_idx, target, lam, CALIBRATION_ALPHA)
    soft_cap = None
    if policy.cap_by_history:
        share = np.divide(block.mix.max(axis=1, initial=0.0), totals[:, 0],
                          out=np.zeros(len(block.mix)), where=has_mix)
        cap = np.maximum(1, np.floor(ks * share + 1e-9)).astype(np.int64)
        soft_cap = np.where(has_mix, cap, NO_CAP)
    positions = greedy_rows(w, keep, ks, calibration=calibration, category=block.category,
                            maker=block.maker, max_per_category=policy.max_per_category,
                            max_per_maker=policy.max_per_maker, soft_cap=soft_cap)
    picked = positions >= 0
    scores = np.where(picked, np.take_along_axis(w, np.where(picked, positions, 0), axis=1), np.nan)
    if policy.max_per_category is not None or policy.max_per_maker is not None:
        _top_up(block, keep, positions, scores, ks)
    return BlockLists(positions, scores)


def _top_up(block: CandidateBlock, keep: np.ndarray, positions: np.ndarray, scores: np.ndarray,
            ks: np.ndarray) -> None:
    """A shipped list is never cut short by the caps (``policies._filled``): a row the caps left
    short takes its other admissible foods in the model's order, scored just below its last pick."""
    n = (positions >= 0).sum(axis=1)
    for r in np.flatnonzero((n < ks) & (keep.sum(axis=1) > n)):
        taken = set(positions[r, :n[r]].tolist())
        rest = [p for p in np.argsort(-block.relevance[r], kind="stable").tolist()
                if keep[r, p] and p not in taken][:ks[r] - n[r]]
        low = float(np.min(scores[r, :n[r]])) if n[r] else 0.0
        positions[r, n[r]:n[r] + len(rest)] = rest
        scores[r, n[r]:n[r] + len(rest)] = low - 1e-6 * np.arange(1, len(rest) + 1)


def spread_block(block: CandidateBlock, lists: BlockLists, groups: np.ndarray,
                 max_share: float) -> BlockLists:
    """``policies.spread_first_picks`` on rows: within each group no food is #1 for more than
    ``max_share`` of the users (at least one); while one is, the user of it who gives up least
    (ties: the lowest user id) moves to their best later food still under the limit.

    The moves are those of the one-move-at-a-time rule, taken in batches: every movable user's
    move is worked out once, then applied in order of loss while each stays that user's best (a
    move is dropped when its food is no longer crowded; the batch ends when a move fills its target
    food, since the users aiming there must look further). A group where everyone agrees (the
    popularity baseline) then takes a few batches instead of one pass per user.
    """
    positions, scores = lists.positions.copy(), lists.scores.copy()
    depth = positions.shape[1]
    to_front = np.array([np.r_[j, np.delete(np.arange(depth), j)] for j in range(depth)], dtype=np.int64)
    foods = np.where(positions >= 0, np.take_along_axis(block.food_ids, np.maximum(positions, 0), axis=1), -1)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        members = members[np.argsort(block.user_ids[members], kind="stable")]
        limit = max(1, int(np.floor(max_share * len(members))))
        rows = members[foods[members, 0] >= 0]
        if len(rows) <= limit:
            continue
        codes, local = np.unique(foods[rows], return_inverse=True)
        local = local.reshape(len(rows), -1)
        later = foods[rows] >= 0
        later[:, 0] = False
        counts = np.bincount(local[:, 0], minlength=len(codes))
        while True:
            crowded = counts[local[:, 0]] > limit
            if not crowded.any():
                break
            room = later & (counts[local] < limit)
            movable = np.flatnonzero(crowded & room.any(axis=1))
            if not len(movable):
                break
            target = np.argmax(room[movable], axis=1)
            loss = scores[rows[movable], 0] - scores[rows[movable], target]
            for n in np.lexsort((movable, loss)).tolist():     # least loss first, then lowest user id
                m, j = int(movable[n]), int(target[n])
                source, goal = local[m, 0], local[m, j]
                if counts[source] <= limit:                    # its food has shed enough users
                    continue
                r, order = rows[m], to_front[j]
                positions[r], scores[r], foods[r] = positions[r, order], scores[r, order], foods[r, order]
                local[m] = local[m, order]
                counts[source] -= 1
                counts[goal] += 1
                if counts[goal] >= limit:                       # full: others aiming here look again
                    break
    return BlockLists(positions, scores)
