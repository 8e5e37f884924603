"""Accuracy and beyond-accuracy metrics: plain functions over DataFrames in the shared columns.

Conventions (after Microsoft Recommenders' ``python_evaluation``, with the differences noted):

- ``recs`` holds ``C.USER_ID``, ``C.FOOD_ID`` and ``C.RANK`` (1 = best), optionally ``C.SCORE``;
  ``truth`` holds ``C.USER_ID``, ``C.FOOD_ID`` (the foods each user really ordered in the test
  window; duplicates count once, relevance is binary).
- A user's list is ordered by ``RANK``; ``SCORE`` never reorders it, so two foods with the same
  score keep the order their ranks give. Only if two rows share a rank does the higher score
  (then the smaller food id) go first. A food listed twice for a user counts once, at its better
  rank. The top-k are the first k rows of that order, so gaps in the ranks do not matter.
- Ranking metrics average over the users that have truth rows: users with no test rows are
  ignored, users with truth but no recommendations count as 0 (Microsoft Recommenders averages
  over the users present in both instead). With no truth users at all the mean is undefined: nan.
- ``precision_at_k`` divides by k even when a list is shorter than k (as Microsoft Recommenders).
- Two recall conventions, named apart: ``recall_at_k`` = hits / min(|relevant|, k) (a perfect
  list scores 1), ``recall_full_at_k`` = hits / |relevant| (Microsoft Recommenders' recall).
- Every ranking metric has a ``*_per_user`` twin (one value per truth user): the paired
  bootstrap resamples users from those.
- ``map_at_k`` divides each user's sum of precisions at the hits by min(k, |relevant|).
- Logarithms: log2 for discounts and self-information, natural log for KL divergence.
- Beyond-accuracy metrics return nan when undefined (no recommendations, no pairs).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kurrant_core import columns as C
from kurrant_core.errors import KurrantError

CALIBRATION_ALPHA = 0.01
"""Steck (2018): the list mix q is smoothed toward the user's mix p, q~ = (1-a)q + a p."""


# ---------------------------------------------------------------- small array-level primitives

def pairwise_diversity(features: np.ndarray) -> float:
    """Mean of 1 - cosine similarity over all pairs of rows; nan for fewer than two rows."""
    f = np.asarray(features, dtype=float)
    m = f.shape[0]
    if m < 2:
        return float("nan")
    norms = np.linalg.norm(f, axis=1)
    f = f / np.where(norms > 0, norms, 1.0)[:, None]
    upper = np.triu_indices(m, 1)
    return float(np.mean(1.0 - (f @ f.T)[upper]))


def popularity_share(counts: np.ndarray) -> np.ndarray:
    """Laplace-smoothed share p(i) = (c_i + 1) / (sum c + n), so never-ordered foods stay finite."""
    c = np.asarray(counts, dtype=float)
    return (c + 1.0) / (c.sum() + c.size)


def smoothed_kl(target: np.ndarray, observed: np.ndarray,
                alpha: float = CALIBRATION_ALPHA) -> np.ndarray | float:
    """KL(p || q~) with q~ = (1 - alpha) q + alpha p, along the last axis (natural log).

    ``target`` p is the user's category mix, ``observed`` q the list's; categories with p = 0 add
    nothing, and the smoothing keeps categories the list lacks finite.
    """
    p = np.asarray(target, dtype=float)
    q = (1.0 - alpha) * np.asarray(observed, dtype=float) + alpha * p
    safe_q = np.where(p > 0, q, 1.0)
    safe_p = np.where(p > 0, p, 1.0)
    terms = np.where(p > 0, p * np.log(safe_p / safe_q), 0.0)
    total = terms.sum(axis=-1)
    return float(total) if np.ndim(total) == 0 else total


# ---------------------------------------------------------------- ranking against truth

def _check_k(k: int | None) -> float:
    if k is None:
        return float("inf")
    if int(k) != k or k < 1:
        raise KurrantError(f"k must be a whole number of at least 1, not {k!r}.")
    return k


def _top_k(recs: pd.DataFrame, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, foods and 1-based positions of every user's first k recommendations."""
    by = [C.USER_ID, C.RANK]
    ascending = [True, True]
    if C.SCORE in recs.columns:
        by.append(C.SCORE)
        ascending.append(False)
    by.append(C.FOOD_ID)
    ascending.append(True)
    ranked = (recs.sort_values(by, ascending=ascending, kind="stable")
              .drop_duplicates([C.USER_ID, C.FOOD_ID]))
    position = ranked.groupby(C.USER_ID, sort=False).cumcount().to_numpy() + 1
    keep = position <= k
    return (ranked[C.USER_ID].to_numpy()[keep], ranked[C.FOOD_ID].to_numpy()[keep],
            position[keep])


def _hits(recs: pd.DataFrame, truth: pd.DataFrame,
          k: int | None) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Per truth user the number of relevant foods; users and positions of the top-k hits."""
    kk = _check_k(k)
    relevant = truth[[C.USER_ID, C.FOOD_ID]].drop_duplicates()
    n_relevant = relevant.groupby(C.USER_ID).size()
    users, foods, position = _top_k(recs, kk)
    is_hit = pd.MultiIndex.from_arrays([users, foods]).isin(pd.MultiIndex.from_frame(relevant))
    return n_relevant, users[is_hit], position[is_hit]


def _over_truth_users(per_user: pd.Series, n_relevant: pd.Series) -> pd.Series:
    """One value per truth user; users without a value (no recs, no hits) get 0."""
    return per_user.reindex(n_relevant.index, fill_value=0.0).astype(float)


def _mean(per_user: pd.Series) -> float:
    """Mean over the truth users; nan when there are none."""
    return float(per_user.mean()) if len(per_user) else float("nan")


def _per_user_sum(values: np.ndarray, users: np.ndarray) -> pd.Series:
    return pd.Series(values, index=users, dtype=float).groupby(level=0).sum()


def precision_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user: (relevant foods in the top k) / k."""
    n_relevant, users, _ = _hits(recs, truth, k)
    return _over_truth_users(_per_user_sum(np.ones(users.size), users) / k, n_relevant)


def recall_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user: (relevant foods in the top k) / min(relevant foods, k), so a perfect list
    scores 1 even when the user ordered more than k foods."""
    n_relevant, users, _ = _hits(recs, truth, k)
    hits = _per_user_sum(np.ones(users.size), users)
    return _over_truth_users(hits / np.minimum(n_relevant, _check_k(k)).reindex(hits.index), n_relevant)


def recall_full_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user: (relevant foods in the top k) / (relevant foods)."""
    n_relevant, users, _ = _hits(recs, truth, k)
    hits = _per_user_sum(np.ones(users.size), users)
    return _over_truth_users(hits / n_relevant.reindex(hits.index), n_relevant)


def hit_rate_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user: 1 when a relevant food is in the top k, else 0."""
    n_relevant, users, _ = _hits(recs, truth, k)
    return _over_truth_users(pd.Series(1.0, index=np.unique(users)), n_relevant)


def ndcg_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user NDCG@k with binary relevance: DCG = sum over hits of 1/log2(position + 1),
    divided by the ideal DCG = sum_{r=1}^{min(k, |relevant|)} 1/log2(r + 1)."""
    n_relevant, users, position = _hits(recs, truth, k)
    dcg = _per_user_sum(1.0 / np.log2(position + 1.0), users)
    ideal = pd.Series(ideal_dcg(np.minimum(n_relevant.to_numpy(), k)), index=n_relevant.index)
    return _over_truth_users(dcg / ideal.reindex(dcg.index), n_relevant)


def ideal_dcg(n_slots: np.ndarray) -> np.ndarray:
    """sum_{r=1}^{n} 1/log2(r + 1) for each n (n >= 1)."""
    n = np.asarray(n_slots, dtype=np.int64)
    cumsum = np.cumsum(1.0 / np.log2(np.arange(2, max(int(n.max(initial=1)), 1) + 2)))
    return cumsum[n - 1]


def map_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per truth user: the sum of precision@position at each hit in the top k, divided by
    min(k, |relevant|)."""
    n_relevant, users, position = _hits(recs, truth, k)
    nth_hit = pd.Series(users).groupby(users).cumcount().to_numpy() + 1
    summed = _per_user_sum(nth_hit / position, users)
    denominator = np.minimum(n_relevant, k).reindex(summed.index)
    return _over_truth_users(summed / denominator, n_relevant)


def reciprocal_rank_per_user(recs: pd.DataFrame, truth: pd.DataFrame,
                             k: int | None = None) -> pd.Series:
    """Per truth user: 1 / position of the first relevant food (within the top k if given)."""
    n_relevant, users, position = _hits(recs, truth, k)
    first = pd.Series(position, index=users, dtype=float).groupby(level=0).min()
    return _over_truth_users(1.0 / first, n_relevant)


def precision_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Mean over truth users of (relevant foods in the top k) / k."""
    return _mean(precision_per_user(recs, truth, k))


def recall_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Mean over truth users of (relevant foods in the top k) / min(relevant foods, k)."""
    return _mean(recall_per_user(recs, truth, k))


def recall_full_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Mean over truth users of (relevant foods in the top k) / (relevant foods)."""
    return _mean(recall_full_per_user(recs, truth, k))


def hit_rate_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Share of truth users with at least one relevant food in their top k."""
    return _mean(hit_rate_per_user(recs, truth, k))


def ndcg_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Mean NDCG@k over truth users (see ``ndcg_per_user``)."""
    return _mean(ndcg_per_user(recs, truth, k))


def map_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """Mean average precision at k over truth users (see ``map_per_user``)."""
    return _mean(map_per_user(recs, truth, k))


def mrr(recs: pd.DataFrame, truth: pd.DataFrame, k: int | None = None) -> float:
    """Mean reciprocal rank of each truth user's first relevant food (within the top k if given)."""
    return _mean(reciprocal_rank_per_user(recs, truth, k))


def random_ranking_expectation(n_candidates: np.ndarray, n_hittable: np.ndarray,
                               n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per user, the expected catalog metrics of a uniformly random ranking (exact, no sampling).

    A user's list is a random order of ``n_candidates`` foods of which ``n_hittable`` are relevant;
    ``n_relevant`` (>= n_hittable) is the size of their truth, the denominator of recall and the
    ideal DCG as in the functions above. With p = h/n and k' = min(k, n), position r holds a
    relevant food with probability p, so E[DCG] = p sum_{r<=k'} 1/log2(r+1), E[hits] = k' p;
    HR = 1 - prod_{j<k'} (n-h-j)/(n-j); the first hit is at r with probability
    prod_{j<r-1} (n-h-j)/(n-j) x h/(n-r+1); E[rel_r x precision@r] = p (1 + (r-1)(h-1)/(n-1)) / r.
    Returns arrays keyed like the metric names: precision, recall, recall_full, ndcg, hr, map, mrr.
    """
    n = np.asarray(n_candidates, dtype=float)
    h = np.minimum(np.asarray(n_hittable, dtype=float), n)
    t = np.maximum(np.asarray(n_relevant, dtype=float), 1.0)
    kk = int(_check_k(k))
    r = np.arange(1, kk + 1, dtype=float)[None, :]                      # users x positions
    inside = r <= n[:, None]
    p = np.divide(h, n, out=np.zeros_like(h), where=n > 0)[:, None]
    hits = (p * inside).sum(axis=1)
    dcg = (p * inside / np.log2(r + 1.0)).sum(axis=1)
    # probability that positions 1..r-1 hold no relevant food, then that r does
    miss_step = np.where(inside, (n[:, None] - h[:, None] - (r - 1)) / np.maximum(n[:, None] - (r - 1), 1.0), 1.0)
    miss_before = np.cumprod(np.hstack([np.ones((len(n), 1)), np.clip(miss_step, 0.0, 1.0)[:, :-1]]), axis=1)
    first_at = miss_before * np.where(inside, h[:, None] / np.maximum(n[:, None] - (r - 1), 1.0), 0.0)
    others = np.divide(h - 1.0, n - 1.0, out=np.zeros_like(h), where=n > 1)[:, None]
    ap_terms = np.where(inside, p * (1.0 + (r - 1.0) * others) / r, 0.0)
    return {
        "precision": hits / kk,
        "recall": hits / np.minimum(t, kk),
        "recall_full": hits / t,
        "ndcg": dcg / ideal_dcg(np.minimum(t, kk).astype(np.int64)),
        "hr": 1.0 - np.prod(np.clip(miss_step, 0.0, 1.0), axis=1),
        "map": ap_terms.sum(axis=1) / np.minimum(t, kk),
        "mrr": (first_at / r).sum(axis=1),
    }


# ---------------------------------------------------------------- the daily-menu protocol

def daily_menu_metrics(ranks_of_chosen: np.ndarray, menu_sizes: np.ndarray) -> dict[str, float]:
    """Metrics of the production task: one event = one user's order from one day's menu.

    ``ranks_of_chosen[e]`` is the 1-based rank the model gave the food the user chose among the
    ``menu_sizes[e]`` foods on offer. Returns hr@1, hr@3, mrr (mean 1/rank) and ndcg (of the
    single chosen food: mean 1/log2(rank + 1)), each with the expectation under a random ranking
    of the same menus (``random_`` prefix: the chosen rank is uniform on 1..m, so hr@1 = 1/m,
    hr@3 = min(3, m)/m, mrr = H_m/m, ndcg = (1/m) sum_r 1/log2(r + 1)), and ``n_events``.
    """
    rank = np.asarray(ranks_of_chosen, dtype=float)
    size = np.asarray(menu_sizes, dtype=float)
    if rank.shape != size.shape or rank.ndim != 1:
        raise ValueError("ranks_of_chosen and menu_sizes must be 1-D arrays of the same length")
    names = ["hr@1", "hr@3", "mrr", "ndcg"]
    if rank.size == 0:
        return {**{n: float("nan") for n in names},
                **{f"random_{n}": float("nan") for n in names}, "n_events": 0}
    if np.any(rank < 1) or np.any(rank > size) or np.any(rank != np.round(rank)):
        raise ValueError("every rank must be a whole number between 1 and its menu size")
    r = np.arange(1, int(size.max()) + 1)
    cum_reciprocal = np.cumsum(1.0 / r)
    cum_discount = np.cumsum(1.0 / np.log2(r + 1.0))
    m = size.astype(int)
    return {
        "hr@1": float(np.mean(rank == 1)),
        "hr@3": float(np.mean(rank <= 3)),
        "mrr": float(np.mean(1.0 / rank)),
        "ndcg": float(np.mean(1.0 / np.log2(rank + 1.0))),
        "random_hr@1": float(np.mean(1.0 / size)),
        "random_hr@3": float(np.mean(np.minimum(3.0, size) / size)),
        "random_mrr": float(np.mean(cum_reciprocal[m - 1] / size)),
        "random_ndcg": float(np.mean(cum_discount[m - 1] / size)),
        "n_events": int(rank.size),
    }


# ---------------------------------------------------------------- beyond accuracy

def _list_keys(recs: pd.DataFrame) -> list[str]:
    """One list = one user, or one user on one date and dining type when recs are dated."""
    return [C.USER_ID] + [c for c in (C.SERVICE_DATE, C.DINING_TYPE) if c in recs.columns]


def _lists(recs: pd.DataFrame):
    """Yield (user id, food id array) per recommendation list."""
    for key, foods in recs.groupby(_list_keys(recs), dropna=False, sort=False)[C.FOOD_ID]:
        yield (key[0] if isinstance(key, tuple) else key), foods.to_numpy()


def _check_catalog(n_catalog: int) -> None:
    if n_catalog < 1:
        raise KurrantError(f"The catalog must hold at least one food, not {n_catalog}.")


def catalog_coverage(recs: pd.DataFrame, n_catalog: int) -> float:
    """Distinct recommended foods / foods in the catalog."""
    _check_catalog(n_catalog)
    return recs[C.FOOD_ID].nunique() / n_catalog


def intra_list_diversity(recs: pd.DataFrame, feature_matrix: np.ndarray | sp.spmatrix,
                         food_index: Mapping[int, int]) -> float:
    """Mean over lists (of two or more foods) of the mean pairwise 1 - cosine of food features.

    ``food_index`` maps a food id to its row of ``feature_matrix``.
    """
    features = feature_matrix.tocsr() if sp.issparse(feature_matrix) else np.asarray(feature_matrix)
    values = []
    for _, foods in _lists(recs):
        if foods.size < 2:
            continue
        rows = features[[food_index[int(f)] for f in foods]]
        values.append(pairwise_diversity(rows.toarray() if sp.issparse(rows) else rows))
    return float(np.mean(values)) if values else float("nan")


def novelty(recs: pd.DataFrame, popularity: pd.Series) -> float:
    """Mean self-information -log2 p(i) over all recommended rows.

    ``popularity`` maps food id -> order count in the training window; p(i) is the
    Laplace-smoothed share (c_i + 1) / (sum c + n) over the catalog those foods make up (foods
    missing from ``popularity`` count 0 and join it), so never-ordered foods stay finite.
    """
    if recs.empty:
        return float("nan")
    counts = popularity.reindex(popularity.index.union(pd.Index(recs[C.FOOD_ID].unique())),
                                fill_value=0)
    share = pd.Series(popularity_share(counts.to_numpy()), index=counts.index)
    return float(np.mean(-np.log2(share.loc[recs[C.FOOD_ID]].to_numpy())))


def exposure_gini(recs: pd.DataFrame, n_catalog: int) -> float:
    """Gini coefficient of how often each catalog food is recommended, never-recommended foods
    included as zeros: G = sum_i (2i - n - 1) x_(i) / (n sum x), x sorted ascending.
    0 = every food shown equally often, near 1 = a few foods take all the exposure."""
    _check_catalog(n_catalog)
    counts = recs[C.FOOD_ID].value_counts().to_numpy()
    if counts.size > n_catalog:
        raise KurrantError(f"{counts.size} distinct foods are recommended but the catalog has "
                           f"only {n_catalog}; pass the number of foods on sale.")
    if counts.sum() == 0:
        return float("nan")
    x = np.sort(np.concatenate([np.zeros(n_catalog - counts.size), counts]))
    i = np.arange(1, n_catalog + 1)
    return float(np.sum((2 * i - n_catalog - 1) * x) / (n_catalog * x.sum()))


def _pairs(n: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j when they are few enough, else ``max_pairs`` random distinct pairs."""
    if n * (n - 1) // 2 <= max_pairs:
        return np.triu_indices(n, 1)
    a = rng.integers(0, n, size=max_pairs)
    b = rng.integers(0, n - 1, size=max_pairs)
    return a, b + (b >= a)


def personalisation(recs: pd.DataFrame, *, max_pairs: int = 20_000, seed: int = 0) -> float:
    """1 - mean Jaccard overlap between the lists of two different users.

    Lists are compared within the same service date and dining type when recs are dated. When a
    context has more than ``max_pairs`` user pairs, that many pairs are sampled with
    ``numpy.random.default_rng(seed)``. nan when no context has two users.
    """
    rng = np.random.default_rng(seed)
    contexts = [c for c in (C.SERVICE_DATE, C.DINING_TYPE) if c in recs.columns]
    groups = recs.groupby(contexts, dropna=False, sort=False) if contexts else [(None, recs)]
    overlap_sum, n_pairs = 0.0, 0
    for _, ctx in groups:
        users, u = np.unique(ctx[C.USER_ID].to_numpy(), return_inverse=True)
        if users.size < 2:
            continue
        _, f = np.unique(ctx[C.FOOD_ID].to_numpy(), return_inverse=True)
        member = sp.csr_matrix((np.ones(u.size), (u, f)), shape=(users.size, f.max() + 1))
        member.data[:] = 1.0  # a food listed twice for a user is one member
        a, b = _pairs(users.size, max_pairs, rng)
        shared = np.asarray(member[a].multiply(member[b]).sum(axis=1)).ravel()
        sizes = np.asarray(member.sum(axis=1)).ravel()
        overlap_sum += float(np.sum(shared / (sizes[a] + sizes[b] - shared)))
        n_pairs += a.size
    return 1.0 - overlap_sum / n_pairs if n_pairs else float("nan")


def calibration_error(recs: pd.DataFrame, user_category_mix: pd.DataFrame,
                      food_category: pd.Series) -> float:
    """Mean over lists of KL(p_user || q~_list) (Steck 2018, alpha = 0.01, natural log).

    ``user_category_mix``: one row per user id, one column per category code, shares summing to
    1 (``pd.crosstab(orders[C.USER_ID], orders[C.CUISINE_CODE], normalize="index")``).
    ``food_category`` maps food id -> category code. Users without a mix are skipped. Computed
    for every list at once (lists x categories arrays): on the large world a loop took 14 s.
    """
    if recs.empty:
        return float("nan")
    keys = _list_keys(recs)
    known = recs[C.USER_ID].isin(user_category_mix.index).to_numpy()
    if not known.any():
        return float("nan")
    recs = recs[known]
    list_of = recs.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    category = food_category.reindex(recs[C.FOOD_ID].to_numpy()).to_numpy()
    codes = np.union1d(user_category_mix.columns.to_numpy(), pd.unique(category[~pd.isna(category)]))
    n_lists = int(list_of.max()) + 1
    q = np.zeros((n_lists, len(codes)))
    counted = ~pd.isna(category)                 # a food without a category counts in no share
    np.add.at(q, (list_of[counted], np.searchsorted(codes, category[counted].astype(codes.dtype))), 1.0)
    q /= q.sum(axis=1, keepdims=True)
    first_user = recs[C.USER_ID].to_numpy()[np.unique(list_of, return_index=True)[1]]
    mix = user_category_mix.reindex(columns=codes, fill_value=0.0)
    p = mix.loc[first_user].to_numpy(dtype=float)
    return float(np.mean(smoothed_kl(p, q)))


def category_coverage(recs: pd.DataFrame, food_category: pd.Series, n_categories: int) -> float:
    """Mean over lists of (distinct categories in the list) / min(list length, ``n_categories``),
    so 1 means as varied as a list of that length can be. ``food_category`` maps food id -> code."""
    if recs.empty or n_categories < 1:
        return float("nan")
    frame = pd.DataFrame({**{key: recs[key].to_numpy() for key in _list_keys(recs)},
                          "category": food_category.reindex(recs[C.FOOD_ID].to_numpy()).to_numpy()})
    per_list = frame.groupby(_list_keys(recs), dropna=False)["category"].agg(["nunique", "size"])
    return float(np.mean(per_list["nunique"] / np.minimum(per_list["size"], n_categories)))


N_CATEGORIES, TOP_SHARE = "n_categories", "top_share"


def category_spread(frame: pd.DataFrame, keys: list[str], category: str, weight: str | None = None) -> pd.DataFrame:
    """Per list (the rows sharing ``keys``): ``N_CATEGORIES``, its distinct values of ``category``,
    and ``TOP_SHARE``, the largest one's share of its rows (or of ``weight``). One measure for a
    shipped list and for a user's own history, so the two compare like for like."""
    groups = frame.groupby([*keys, category], dropna=False)
    counts = groups[weight].sum() if weight else groups.size()
    per_list = counts.groupby(level=list(range(len(keys))), dropna=False)
    return pd.DataFrame({N_CATEGORIES: per_list.size(), TOP_SHARE: per_list.max() / per_list.sum()})


def top_category_share(recs: pd.DataFrame, food_category: pd.Series) -> float:
    """Median over lists of the largest category's share of the list: 1 for a list of one cuisine,
    0.4 for a top-10 whose biggest cuisine holds 4 foods. ``food_category`` maps food id -> code."""
    if recs.empty:
        return float("nan")
    keys = _list_keys(recs)
    frame = pd.DataFrame({**{key: recs[key].to_numpy() for key in keys},
                          "category": food_category.reindex(recs[C.FOOD_ID].to_numpy()).to_numpy()})
    return float(np.median(category_spread(frame, keys, "category")[TOP_SHARE]))


def _day_numbers(values) -> np.ndarray:
    return np.asarray(pd.to_datetime(values), dtype="datetime64[D]").astype(np.int64)


def repeat_rate(recs: pd.DataFrame, history: pd.DataFrame, as_of: date | None = None,
                days: int = 7) -> float:
    """Share of recommended rows whose food the same user ate in the ``days`` days before
    ``as_of`` (service dates in [as_of - days, as_of)).

    ``history`` holds ``C.USER_ID``, ``C.FOOD_ID``, ``C.SERVICE_DATE``. With ``as_of`` None each
    row is judged against its own ``C.SERVICE_DATE`` (dated daily-menu lists).
    """
    if recs.empty:
        return float("nan")
    if as_of is None:
        if C.SERVICE_DATE not in recs.columns or recs[C.SERVICE_DATE].isna().any():
            raise KurrantError("repeat_rate needs as_of for lists without a service date.")
        rec_day = _day_numbers(recs[C.SERVICE_DATE])
    else:
        rec_day = np.full(len(recs), _day_numbers([as_of])[0])
    eaten_day = _day_numbers(history[C.SERVICE_DATE])
    # only meals of these users within ``days`` before some list can match (the rest of a large
    # history, millions of rows x ``days``, would only slow the lookup down)
    near = ((eaten_day >= rec_day.min() - days) & (eaten_day <= rec_day.max() - 1)
            & history[C.USER_ID].isin(pd.unique(recs[C.USER_ID])).to_numpy())
    history, eaten_day = history[near], eaten_day[near]
    # a meal on day h counts as recent for every as_of in h + 1 .. h + days
    offsets = np.arange(1, days + 1)
    recent = pd.MultiIndex.from_arrays([
        np.repeat(history[C.USER_ID].to_numpy(), days),
        np.repeat(history[C.FOOD_ID].to_numpy(), days),
        (eaten_day[:, None] + offsets[None, :]).ravel()])
    keys = pd.MultiIndex.from_arrays([recs[C.USER_ID].to_numpy(), recs[C.FOOD_ID].to_numpy(),
                                      rec_day])
    return float(np.mean(keys.isin(recent)))
