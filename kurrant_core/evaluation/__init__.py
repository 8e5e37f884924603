"""Evaluation harness: a global time split, the daily-menu and catalog protocols, beyond-accuracy
metrics, the MMR accuracy-diversity trade-off, and the leaderboard read back from ``rec_run``.

Modules: ``split`` (train before T, test on [T, T + horizon)), ``protocols`` (rankings and their
accuracy), ``beyond`` (coverage, diversity, novelty, ...), ``tradeoff`` (NDCG vs diversity as the
MMR lambda moves), ``harness`` (fit, score and store each model as a run), ``leaderboard``.
"""
from kurrant_core.evaluation.harness import ModelEvaluation, ModelScores, evaluate, resolve_models, score_fitted
from kurrant_core.evaluation.leaderboard import (
                                             evaluated_runs,
                                             evaluation_splits,
                                             headline_keys,
                                             headline_metrics,
                                             leaderboard,
                                             leaderboard_frame,
                                             models_beating_baselines,
                                             policy_costs,
                                             summary_columns,
                                             tradeoff_curves,
)
from kurrant_core.evaluation.split import (
                                             DEFAULT_HORIZON_DAYS,
                                             TimeSplit,
                                             backtest_splits,
                                             default_split,
                                             read_test_items,
                                             split_data,
)

__all__ = ["DEFAULT_HORIZON_DAYS", "ModelEvaluation", "ModelScores", "TimeSplit", "backtest_splits",
           "default_split", "evaluate", "evaluated_runs", "evaluation_splits", "headline_keys",
           "headline_metrics", "models_beating_baselines", "policy_costs",
           "leaderboard", "leaderboard_frame", "read_test_items", "resolve_models", "score_fitted",
           "split_data", "summary_columns", "tradeoff_curves"]
