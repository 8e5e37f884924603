"""Beyond accuracy: what a model's lists do to the catalog and to each user's variety.

The business rule is that recommendations must follow each user's taste *and not converge* on a
few menus, so every evaluation reports, next to accuracy: catalog coverage, intra-list diversity
on food features, novelty, exposure Gini over foods, personalisation, calibration error against
each user's category mix, category coverage (distinct cuisines per list), the top cuisine's share
of a list (beside the same share in the users' own last ten items), and the repeat rate (share
of recommended foods the user ate in the previous 7 days). All come from ``kurrant_core.metrics``;
this module only feeds them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kurrant_core import columns as C, metrics as M
from kurrant_core.data import ITEM_IDX, TrainingData
from kurrant_core.evaluation import names as N

REPEAT_WINDOW_DAYS = 7


def food_popularity(data: TrainingData) -> pd.Series:
    """Food id -> paid order items before the cutoff (every food in mart_food, zeros included)."""
    counts = data.orders[C.FOOD_ID].value_counts()
    return counts.reindex(data.food_ids, fill_value=0)


def user_category_mix(data: TrainingData) -> pd.DataFrame:
    """Users (raw ids, rows) x cuisine codes: each user's share of paid items before the cutoff."""
    mix = data.category_mix                      # users x category_codes, shares (CSR, cached)
    rows = np.flatnonzero(np.diff(mix.indptr) > 0)
    columns = np.unique(mix.indices)
    return pd.DataFrame(mix[rows][:, columns].toarray(), index=pd.Index(data.user_ids[rows], name=C.USER_ID),
                        columns=pd.Index(data.category_codes[columns]))


def beyond_accuracy(recs: pd.DataFrame, data: TrainingData) -> dict[str, float]:
    """The beyond-accuracy figures of date-free (catalog) lists made from ``data``'s model."""
    n_catalog = max(len(data.catalog), 1)
    food_category = pd.Series(data.food_category, index=data.food_ids)
    return {
        N.COVERAGE: M.catalog_coverage(recs, n_catalog),
        N.ILD: M.intra_list_diversity(recs, data.food_features, data.food_index),
        N.NOVELTY: M.novelty(recs, food_popularity(data)),
        N.EXPOSURE_GINI: M.exposure_gini(recs, n_catalog),
        N.PERSONALISATION: M.personalisation(recs),
        N.CALIBRATION_ERROR: M.calibration_error(recs, user_category_mix(data), food_category),
        N.CATEGORY_COVERAGE: M.category_coverage(recs, food_category,
                                                 len(np.unique(data.food_category[data.catalog]))),
        N.REPEAT_RATE: M.repeat_rate(recs, data.orders, as_of=data.cutoff, days=REPEAT_WINDOW_DAYS),
        N.TOP_CATEGORY_SHARE: M.top_category_share(recs, food_category),
        N.HISTORY_TOP_CATEGORY_SHARE: history_top_category_share(data, recs[C.USER_ID].unique()),
        N.WHOLE_HISTORY_TOP_CATEGORY_SHARE: history_top_category_share(data, recs[C.USER_ID].unique(), None),
    }


def history_top_category_share(data: TrainingData, user_ids, n_items: int | None = 10) -> float:
    """Median over ``user_ids`` of the largest cuisine's share of their last ``n_items`` paid items
    before the cutoff (``None``: all of them): how varied the users themselves are over a list's
    length, or over their whole history (users with no history are left out)."""
    orders = data.orders[data.orders[C.USER_ID].isin(user_ids)]
    last = orders if n_items is None else orders.groupby(C.USER_ID, sort=False).tail(n_items)  # sorted by user, date
    if last.empty:
        return float("nan")
    frame = pd.DataFrame({C.USER_ID: last[C.USER_ID].to_numpy(), C.FOOD_ID: data.food_ids[last[ITEM_IDX].to_numpy()]})
    return M.top_category_share(frame, pd.Series(data.food_category, index=data.food_ids))
