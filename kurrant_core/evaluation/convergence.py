"""Convergence at the population level: does one group's menu day get the same pick for everyone?

Per group-day (one group's menu of one meal), from each user's #1 pick and from what the group
really ordered that meal:

- ``distinct_first_picks``: how many different foods are someone's #1;
- ``top_pick_share``: the share of the group's users whose #1 is the most common #1;
- ``maker_gap``: total variation distance between the makers' shares of the #1 picks and their
  shares of the group's actual orders (0 = picks load the makers as the orders did);
- ``majority_pick``: whether one food is the #1 of more than half of the users, against
  ``majority_order``: whether one food took more than half of the actual orders.

The headline is the share of group-days with a majority pick, which should not exceed the share
with a majority order (what users themselves do).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kurrant_core import columns as C

GROUP_DAY = [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
DISTINCT_FIRST_PICKS = "distinct_first_picks"
TOP_PICK_SHARE = "top_pick_share"
MAKER_GAP = "maker_gap"
MAJORITY_PICK = "majority_pick_days"
MAJORITY_ORDER = "majority_order_days"
SUMMARY_KEYS = (DISTINCT_FIRST_PICKS, TOP_PICK_SHARE, MAKER_GAP, MAJORITY_PICK, MAJORITY_ORDER)


def _shares(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per group-day, each ``key`` value's share of the rows."""
    counts = frame.groupby([*GROUP_DAY, key]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(GROUP_DAY)["n"].transform("sum")
    return counts


def group_day_table(first_picks: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """One row per group-day present in both: the figures of the module docstring.

    ``first_picks``: one row per (user, group-day) with FOOD_ID (the #1) and MAKERS_ID;
    ``orders``: the group's actual paid items of those meals, with FOOD_ID and MAKERS_ID.
    """
    picks, actual = _shares(first_picks, C.FOOD_ID), _shares(orders, C.FOOD_ID)
    table = picks.groupby(GROUP_DAY).agg(**{DISTINCT_FIRST_PICKS: (C.FOOD_ID, "nunique"),
                                            TOP_PICK_SHARE: ("share", "max")})
    table[MAJORITY_PICK] = table[TOP_PICK_SHARE] > 0.5
    ordered = actual.groupby(GROUP_DAY)["share"].max().rename("top_order_share")
    table = table.join(ordered, how="inner")
    table[MAJORITY_ORDER] = table["top_order_share"] > 0.5
    maker_picks = _shares(first_picks, C.MAKERS_ID).set_index([*GROUP_DAY, C.MAKERS_ID])["share"]
    maker_orders = _shares(orders, C.MAKERS_ID).set_index([*GROUP_DAY, C.MAKERS_ID])["share"]
    both = pd.concat([maker_picks.rename("picks"), maker_orders.rename("orders")], axis=1).fillna(0.0)
    gap = (both["picks"] - both["orders"]).abs().groupby(level=list(range(len(GROUP_DAY)))).sum() / 2
    table[MAKER_GAP] = gap.reindex(table.index).to_numpy()
    return table.reset_index()


def convergence_summary(table: pd.DataFrame) -> dict[str, float]:
    """Means over group-days (the majority columns become shares of group-days)."""
    if table.empty:
        return {key: float("nan") for key in SUMMARY_KEYS}
    return {key: float(np.mean(table[key].astype(float))) for key in SUMMARY_KEYS}
