"""How much each planned user wants each food on their menu, from a run (with its diversity policy).

The run's stored rows are used where they cover the date (the pre-computed menu days: exactly the
lists the run ships, no model needed); other dates and users are scored by the run's saved model
through the same policy. A preference is the model's own score, min-max scaled within the user's
menu (so models with different score scales weigh alike), handed out in the policy's order: the
policy's #1 gets the user's best scaled score, its #2 the second best, and so on.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C
from kurrant_core.models.base import Recommender


def _scaled_in_policy_order(recs: pd.DataFrame) -> pd.DataFrame:
    """USER_ID, FOOD_ID, RANK, PREFERENCE for ranked rows carrying RAW_SCORE (or SCORE)."""
    if recs.empty:
        return pd.DataFrame({C.USER_ID: pd.Series(dtype="int64"), C.FOOD_ID: pd.Series(dtype="int64"),
                             C.RANK: pd.Series(dtype="int64"), C.PREFERENCE: pd.Series(dtype=float)})
    raw = recs[C.RAW_SCORE] if C.RAW_SCORE in recs and recs[C.RAW_SCORE].notna().all() else recs[C.SCORE]
    frame = recs[[C.USER_ID, C.FOOD_ID, C.RANK]].assign(_raw=raw.to_numpy(dtype=float))
    g = frame.groupby(C.USER_ID)["_raw"]
    lo, hi = g.transform("min"), g.transform("max")
    scaled = np.where(hi > lo, (frame["_raw"] - lo) / (hi - lo).where(hi > lo, 1.0), 1.0)
    frame = frame.assign(_scaled=scaled).sort_values([C.USER_ID, C.RANK], kind="stable")
    # hand the scaled scores out in the policy's order: the k-th pick gets the k-th best (both
    # orders keep users in the same sequence with the same list lengths)
    best_first = frame.sort_values([C.USER_ID, "_scaled"], ascending=[True, False], kind="stable")
    frame[C.PREFERENCE] = best_first["_scaled"].to_numpy()
    return frame[[C.USER_ID, C.FOOD_ID, C.RANK, C.PREFERENCE]].reset_index(drop=True)


def stored_preferences(engine: sa.Engine, run_id: int, service_date: date, dining_type: int,
                       user_ids) -> pd.DataFrame:
    """Preferences from the run's stored (shipped) rows of that meal; users without rows are absent."""
    from kurrant_core import runs  # the run's rows (kept lazy: runs imports the models)
    rows = runs.read_recommendations(engine, run_id, service_date=service_date, dining_type=dining_type,
                                     with_raw_score=True)
    rows = rows[rows[C.USER_ID].isin(list(user_ids))]
    return _scaled_in_policy_order(rows)


def model_preferences(model: Recommender, policy, user_ids, service_date: date, dining_type: int,
                      n: int) -> pd.DataFrame:
    """Preferences from the run's saved model through its policy; users the model does not know
    (joined after its cutoff) are absent."""
    from kurrant_core.policies import apply_policy
    data = model.data_
    ids = np.asarray(sorted({int(u) for u in user_ids}), dtype=np.int64)
    known = ids[np.isin(ids, data.user_ids)]
    if len(known) == 0:
        return _scaled_in_policy_order(pd.DataFrame())
    recs = apply_policy(model, data, known, max(int(n), 1), policy, service_date=service_date,
                        dining_type=dining_type)
    return _scaled_in_policy_order(recs)
