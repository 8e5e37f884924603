"""The two evaluation protocols, each a ranking a fitted model produces and the accuracy it earns.

- *daily menu* (the production task): every test order is one event; the model ranks that day's
  menu of the user's group (same meal) exactly as the app asks it to, and we look where the food
  the user chose landed (HR@1 = how often the AI pick was the user's choice);
- *catalog*: the model ranks every food on sale once per test user, judged against all the foods
  the user ordered in the test window (Recall, Precision, NDCG, HR, MAP at k and MRR).

Both report cold-start users (no order before the cutoff) separately as well.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from kurrant_core import columns as C, metrics as M
from kurrant_core.data import TrainingData
from kurrant_core.evaluation import names as N
from kurrant_core.models.base import Recommender

log = logging.getLogger(__name__)

RANKED_COLUMNS = [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.RANK, C.MENU_SIZE,
                  C.IS_COLD_START]


# ---------------------------------------------------------------------------- daily menu
def rank_daily_menus(model: Recommender, data: TrainingData, test: pd.DataFrame) -> pd.DataFrame:
    """One row per test order: the chosen food's rank in the user's ranked menu of that meal.

    ``RANK`` and ``MENU_SIZE`` are missing (<NA>) when the chosen food is not among the foods the
    model ranked (not on the group's menu that day, e.g. a menu withdrawn afterwards).
    """
    parts = []
    for (day, dining_type), orders in test.groupby([C.SERVICE_DATE, C.DINING_TYPE], sort=True):
        # a line per meal: on a large world this protocol runs for minutes, and a retrain's log
        # tail (what Retrain & runs shows) has to keep moving
        log.info("daily menu %s, dining type %s: ranking %d orders", pd.Timestamp(day).date(), dining_type,
                 len(orders))
        ranked = model.recommend(orders[C.USER_ID].unique(), data.n_foods,
                                 service_date=pd.Timestamp(day).date(), dining_type=int(dining_type))
        sizes = ranked.groupby(C.USER_ID).size().rename(C.MENU_SIZE)
        events = orders[[C.USER_ID, C.FOOD_ID]].merge(
            ranked[[C.USER_ID, C.FOOD_ID, C.RANK]], on=[C.USER_ID, C.FOOD_ID], how="left")
        events = events.merge(sizes, left_on=C.USER_ID, right_index=True, how="left")
        events[C.SERVICE_DATE] = day
        events[C.DINING_TYPE] = dining_type
        parts.append(events)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RANKED_COLUMNS)
    out[C.RANK] = out[C.RANK].astype("Int64")
    out[C.MENU_SIZE] = out[C.MENU_SIZE].astype("Int64")
    out[C.IS_COLD_START] = data.cold[data.user_indices(out[C.USER_ID].to_numpy())] if len(out) else []
    return out[RANKED_COLUMNS]


def daily_menu_accuracy(ranked: pd.DataFrame) -> dict[str, float]:
    """HR@1, HR@3, MRR, NDCG (and random's expectation) over the ranked events; the same for
    cold-start users' events (``cold_`` keys); events whose food was not ranked are counted in
    ``n_unranked`` and left out."""
    found = ranked.dropna(subset=[C.RANK])
    out: dict[str, float] = M.daily_menu_metrics(found[C.RANK].to_numpy(dtype=float),
                                                 found[C.MENU_SIZE].to_numpy(dtype=float))
    out[N.N_UNRANKED] = int(len(ranked) - len(found))
    cold = found[found[C.IS_COLD_START].astype(bool)]
    cold_metrics = M.daily_menu_metrics(cold[C.RANK].to_numpy(dtype=float),
                                        cold[C.MENU_SIZE].to_numpy(dtype=float))
    for key in (N.at_k(N.HR, 1), N.at_k(N.HR, 3), N.MRR, N.NDCG, N.N_EVENTS):
        out[N.cold(key)] = cold_metrics[key]
    return out


DAILY_INTERVAL_KEYS = (N.MRR, N.at_k(N.HR, 1), N.at_k(N.HR, 3), N.NDCG)
"""Daily-menu metrics that get a paired interval against the best baseline."""


def daily_menu_per_user(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per user (index), the number of ranked events and the sum over them of each metric in
    ``DAILY_INTERVAL_KEYS``, for the model (plain keys) and a random ranking (``random_`` keys):
    the units the paired bootstrap resamples."""
    found = ranked.dropna(subset=[C.RANK])
    rank = found[C.RANK].to_numpy(dtype=float)
    size = found[C.MENU_SIZE].to_numpy(dtype=np.int64)
    r = np.arange(1, int(size.max(initial=1)) + 1)
    values = {
        N.MRR: 1.0 / rank, N.at_k(N.HR, 1): (rank == 1).astype(float),
        N.at_k(N.HR, 3): (rank <= 3).astype(float), N.NDCG: 1.0 / np.log2(rank + 1.0),
        random_key(N.MRR): np.cumsum(1.0 / r)[size - 1] / size,
        random_key(N.at_k(N.HR, 1)): 1.0 / size,
        random_key(N.at_k(N.HR, 3)): np.minimum(3, size) / size,
        random_key(N.NDCG): np.cumsum(1.0 / np.log2(r + 1.0))[size - 1] / size,
    } if len(found) else {key: np.empty(0) for key in (*DAILY_INTERVAL_KEYS,
                                                         *map(random_key, DAILY_INTERVAL_KEYS))}
    frame = pd.DataFrame(values, index=found[C.USER_ID].to_numpy())
    frame[N.N_EVENTS] = 1.0
    return frame.groupby(level=0).sum()


def random_key(metric: str) -> str:
    """The key of a random ranking's expectation of ``metric``: ``random_mrr``."""
    return f"{N.RANDOM}_{metric}"


# ---------------------------------------------------------------------------- catalog
def catalog_interval_keys(k: int) -> tuple[str, ...]:
    """Catalog metrics that get a paired interval against the best baseline."""
    return (N.at_k(N.NDCG, k), N.at_k(N.RECALL, k), N.at_k(N.RECALL_FULL, k), N.at_k(N.HR, k),
            N.at_k(N.MAP, k), N.at_k(N.PRECISION, k), N.MRR)


def truth_of(test: pd.DataFrame, data: TrainingData | None = None, *,
             exclude_seen: bool = False) -> pd.DataFrame:
    """Each test user's distinct foods in the test window (the catalog protocol's relevance).

    With ``exclude_seen`` the foods a user ordered before the cutoff are not relevant (they are
    also left out of the user's list), and users left with no relevant food drop out.
    """
    truth = test[[C.USER_ID, C.FOOD_ID]].drop_duplicates().reset_index(drop=True)
    if not exclude_seen:
        return truth
    u = data.user_indices(truth[C.USER_ID].to_numpy())
    i = data.food_indices(truth[C.FOOD_ID].to_numpy())
    seen = np.asarray(data.counts[u, i]).ravel() > 0 if len(truth) else np.zeros(0, dtype=bool)
    return truth[~seen].reset_index(drop=True)


def seen_foods(data: TrainingData, user_ids: np.ndarray) -> dict[int, np.ndarray]:
    """User id -> the food ids they ordered before the cutoff (what ``--exclude-seen`` removes)."""
    counts = data.counts[data.user_indices(user_ids)].tocsr()
    return {int(user): data.food_ids[counts.indices[counts.indptr[row]:counts.indptr[row + 1]]]
            for row, user in enumerate(user_ids)}


def catalog_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per truth user (index), each metric of ``catalog_interval_keys``."""
    per_user = {
        N.at_k(N.NDCG, k): M.ndcg_per_user(recs, truth, k),
        N.at_k(N.RECALL, k): M.recall_per_user(recs, truth, k),
        N.at_k(N.RECALL_FULL, k): M.recall_full_per_user(recs, truth, k),
        N.at_k(N.HR, k): M.hit_rate_per_user(recs, truth, k),
        N.at_k(N.MAP, k): M.map_per_user(recs, truth, k),
        N.at_k(N.PRECISION, k): M.precision_per_user(recs, truth, k),
        N.MRR: M.reciprocal_rank_per_user(recs, truth, k),
    }
    return pd.DataFrame(per_user)


def random_catalog_per_user(data: TrainingData, truth: pd.DataFrame, k: int, *,
                            exclude_seen: bool = False) -> pd.DataFrame:
    """Per truth user (index), the expected catalog metrics of a random ranking of exactly the
    candidates a model ranks for them: foods on sale, minus allergens (minus seen foods)."""
    users = np.sort(truth[C.USER_ID].unique())
    u = data.user_indices(users)
    allowed = np.zeros((len(u), data.n_foods), dtype=bool)
    allowed[:, data.catalog] = True
    conflict = (data.user_allergens[u] @ data.food_allergens.T).tocoo()
    allowed[conflict.row, conflict.col] = False
    if exclude_seen:
        seen = data.counts[u].tocoo()
        allowed[seen.row, seen.col] = False
    rows = np.searchsorted(users, truth[C.USER_ID].to_numpy())
    hittable = allowed[rows, data.food_indices(truth[C.FOOD_ID].to_numpy())]
    n_hittable = np.bincount(rows, weights=hittable, minlength=len(users))
    n_relevant = np.bincount(rows, minlength=len(users))
    expected = M.random_ranking_expectation(allowed.sum(axis=1), n_hittable, n_relevant, k)
    names = {"precision": N.at_k(N.PRECISION, k), "recall": N.at_k(N.RECALL, k),
             "recall_full": N.at_k(N.RECALL_FULL, k), "ndcg": N.at_k(N.NDCG, k),
             "hr": N.at_k(N.HR, k), "map": N.at_k(N.MAP, k), "mrr": N.MRR}
    return pd.DataFrame({names[key]: value for key, value in expected.items()}, index=users)


def catalog_accuracy(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> dict[str, float]:
    """Recall, Precision, NDCG, HR, MAP at ``k`` and MRR of catalog lists against ``truth``."""
    return {
        N.at_k(N.RECALL, k): M.recall_at_k(recs, truth, k),
        N.at_k(N.RECALL_FULL, k): M.recall_full_at_k(recs, truth, k),
        N.at_k(N.PRECISION, k): M.precision_at_k(recs, truth, k),
        N.at_k(N.NDCG, k): M.ndcg_at_k(recs, truth, k),
        N.at_k(N.HR, k): M.hit_rate_at_k(recs, truth, k),
        N.at_k(N.MAP, k): M.map_at_k(recs, truth, k),
        N.MRR: M.mrr(recs, truth, k),
        N.N_USERS: int(truth[C.USER_ID].nunique()),
    }


def cold_catalog_accuracy(recs: pd.DataFrame, truth: pd.DataFrame, data: TrainingData,
                          k: int) -> dict[str, float]:
    """The catalog accuracy of the cold-start users alone (``cold_`` keys)."""
    users = truth[C.USER_ID].unique()
    cold_users = users[data.cold[data.user_indices(users)]] if len(users) else users
    cold_truth = truth[truth[C.USER_ID].isin(cold_users)]
    cold_recs = recs[recs[C.USER_ID].isin(cold_users)]
    keys = (N.at_k(N.RECALL, k), N.at_k(N.NDCG, k), N.at_k(N.HR, k), N.MRR, N.N_USERS)
    scores = catalog_accuracy(cold_recs, cold_truth, k)
    return {N.cold(key): scores[key] for key in keys}


def rounded(metrics: dict[str, float], digits: int = 6) -> dict[str, float | None]:
    """Metrics as plain ints/floats rounded for storage and printing; nan (undefined, e.g. no
    cold-start users) becomes None, which JSON can hold."""
    def plain(v: float) -> float | int | None:
        if isinstance(v, (int, np.integer)):
            return int(v)
        return None if np.isnan(v) else round(float(v), digits)
    return {key: plain(v) for key, v in metrics.items()}
