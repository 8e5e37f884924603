"""The recommendation comparison: one user, what each model would recommend, side by side.

Everything the comparison page shows comes from here (the page only draws it):
``users`` (profile with labels, quick picks, order history), ``menus`` (which days have a menu,
and a clear message when the chosen one has none), ``runs`` (finished runs and their saved
models), ``lists`` (scored candidate pools, live re-ranking with the diversity knobs, marks,
why-lines, per-list metrics, overlap between lists, category mixes) and ``view`` (the page's two
costly answers, the lists and the replay, from a pool loader the caller may cache).
"""
from __future__ import annotations

from kurrant_core.compare.lists import (
                                        CANDIDATE_COLUMNS,
                                        HISTORY_LABEL,
                                        ITEM_COLUMNS,
                                        REPORT_METRICS,
                                        ColumnView,
                                        ReportMetric,
                                        ScoredCandidates,
                                        SideBySide,
                                        candidates_for_run,
                                        category_mix,
                                        last_eaten,
                                        marks_text,
                                        overlap_table,
                                        score_candidates,
                                        side_by_side,
                                        stored_candidates,
)
from kurrant_core.compare.menus import default_menu_day, menu_date_range, menu_days, require_menu
from kurrant_core.compare.replay import (
                                        DEFAULT_REPLAY_DAYS,
                                        MAX_REPLAY_DAYS,
                                        Replay,
                                        history_before,
                                        hit_rate,
                                        is_hit,
                                        ordered_foods,
                                        replay,
                                        replay_days,
                                        replay_summary,
)
from kurrant_core.compare.runs import (
                                        FAST_MODELS,
                                        MAX_COMPARED,
                                        comparable_runs,
                                        default_run_ids,
                                        latest_cutoff,
                                        load_run_model,
                                        run_label,
                                        submit_fast_retrain,
)
from kurrant_core.compare.users import (
                                        COLD,
                                        HEAVY,
                                        LIGHT,
                                        QUICK_PICKS,
                                        RANDOM,
                                        UserProfile,
                                        pick_user,
                                        user_groups,
                                        user_history,
                                        user_profile,
                                        users_of_group,
)
from kurrant_core.compare.view import ComparedLists, PoolLoader, compare_lists, knob_values, replay_runs
from kurrant_core.rerank import KNOB_NAMES, Policy

__all__ = [
    "CANDIDATE_COLUMNS", "HISTORY_LABEL", "ITEM_COLUMNS", "REPORT_METRICS", "ColumnView", "KNOB_NAMES", "Policy",
    "ReportMetric", "ScoredCandidates", "SideBySide", "candidates_for_run", "category_mix", "last_eaten",
    "marks_text", "overlap_table", "score_candidates", "side_by_side", "stored_candidates",
    "default_menu_day", "menu_date_range", "menu_days", "require_menu", "FAST_MODELS", "MAX_COMPARED",
    "comparable_runs", "default_run_ids", "latest_cutoff", "load_run_model", "run_label",
    "submit_fast_retrain", "COLD", "HEAVY", "LIGHT", "QUICK_PICKS", "RANDOM", "UserProfile", "pick_user",
    "user_groups", "user_history", "user_profile",
    "users_of_group", "DEFAULT_REPLAY_DAYS", "MAX_REPLAY_DAYS", "Replay", "hit_rate", "history_before", "is_hit",
    "ordered_foods", "replay", "replay_days", "replay_summary", "ComparedLists", "PoolLoader", "compare_lists",
    "knob_values", "replay_runs",
]
