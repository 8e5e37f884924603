"""Order EDA: every aggregate the order EDA page shows, computed in SQL on the marts.

Each function takes an engine and an :class:`OrderFilter` and returns a small DataFrame (or
Series); grouping happens in the database, pandas only shapes the aggregated result. Modules:
``filters`` (the filter and its URL form), ``options`` (filter choices), ``sources`` (a stored
rollup or the same rollup over the filtered items), ``kpis``, ``trends``, ``rankings``, ``concentration``,
``take_rate``, ``repeats``, ``users``, ``satisfaction``, ``groups``, ``drilldown``, ``names``, ``labels``.
"""
from __future__ import annotations

import sqlalchemy as sa

from kurrant_core.db import read_meta
from kurrant_core.eda.concentration import concentration_summary, curve_summary, lorenz_curve, weekly_concentration
from kurrant_core.eda.drilldown import food_groups, food_satisfaction, food_weekly_trend
from kurrant_core.eda.filters import QUERY_KEYS, OrderFilter
from kurrant_core.eda.groups import group_comparison
from kurrant_core.eda.kpis import KPI_ORDER, kpi_table
from kurrant_core.eda.options import FilterOptions, filter_options
from kurrant_core.eda.rankings import top_categories, top_foods, top_makers
from kurrant_core.eda.repeats import repeat_gap_distribution, repeat_gaps, repeat_shares
from kurrant_core.eda.satisfaction import (
    price_distribution,
    satisfaction_by_category,
    satisfaction_by_maker,
    shrink_satisfaction,
)
from kurrant_core.eda.take_rate import menu_take_rate
from kurrant_core.eda.trends import daily_orders, weekday_heatmap, weekly_orders
from kurrant_core.eda.users import (
    cohort_retention,
    cohort_retention_from,
    items_per_user,
    new_vs_returning,
    new_vs_returning_from,
    retention_matrix,
    weekly_user_counts,
)
from kurrant_core.preprocess import META_PREPROCESSED_AT


def data_version(engine: sa.Engine) -> str:
    """A token that changes whenever preprocess rebuilds the marts; cached results key on it, so a
    new preprocess invalidates every dashboard process's cache, not just the one that ran it."""
    return read_meta(engine, META_PREPROCESSED_AT) or ""


__all__ = [
    "OrderFilter", "QUERY_KEYS", "FilterOptions", "filter_options", "data_version", "KPI_ORDER", "kpi_table",
    "daily_orders", "weekly_orders", "weekday_heatmap", "top_foods", "top_makers", "top_categories",
    "lorenz_curve", "curve_summary", "concentration_summary", "weekly_concentration", "menu_take_rate",
    "repeat_gaps", "repeat_shares", "repeat_gap_distribution", "items_per_user", "weekly_user_counts",
    "new_vs_returning", "new_vs_returning_from", "cohort_retention", "cohort_retention_from", "retention_matrix",
    "satisfaction_by_category", "satisfaction_by_maker", "shrink_satisfaction", "price_distribution",
    "group_comparison", "food_weekly_trend", "food_groups", "food_satisfaction",
]
