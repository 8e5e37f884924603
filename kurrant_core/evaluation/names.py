"""Keys of the evaluation metrics, as stored in ``rec_run.metrics`` and printed by ``evaluate``.

Lower-case, with an ``@k`` suffix where a cut-off applies (``hr@1``, ``ndcg@10``); the cold-start
figures repeat an accuracy key with the ``cold_`` prefix (``cold_mrr``).
"""
from __future__ import annotations

DAILY_MENU = "daily_menu"
CATALOG = "catalog"
PROTOCOLS = (DAILY_MENU, CATALOG)

# accuracy
HR = "hr"
MRR = "mrr"
NDCG = "ndcg"
RECALL = "recall"
RECALL_FULL = "recall_full"
"""hits / |relevant|; ``recall`` is hits / min(|relevant|, k)."""
PRECISION = "precision"
MAP = "map"
N_EVENTS = "n_events"
N_UNRANKED = "n_unranked"
N_USERS = "n_users"
COLD = "cold_"

# beyond accuracy
COVERAGE = "coverage"
ILD = "ild"
NOVELTY = "novelty"
EXPOSURE_GINI = "exposure_gini"
PERSONALISATION = "personalisation"
CALIBRATION_ERROR = "calibration_error"
CATEGORY_COVERAGE = "category_coverage"
TOP_CATEGORY_SHARE = "top_category_share"
HISTORY_TOP_CATEGORY_SHARE = "history_top_category_share"
"""The same figure for the users' own last ten items before the cutoff (a history of a list's size)."""
WHOLE_HISTORY_TOP_CATEGORY_SHARE = "whole_history_top_category_share"
"""The same figure for the users' whole history before the cutoff."""
REPEAT_RATE = "repeat_rate"

# cost
FIT_SECONDS = "fit_seconds"
FIT_CPU_SECONDS = "fit_cpu_seconds"
"""CPU seconds of all the process's threads while fitting: comparable on a busy, shared machine."""
SCORE_SECONDS = "score_seconds"

# baselines and intervals
RANDOM = "random"
"""The random ranking: a baseline computed in expectation, never fitted or stored as a run."""
BASELINE = "baseline"
VERSUS_BASELINE = "versus_best_baseline"
"""Per protocol and headline metric: the best baseline and the paired bootstrap interval of the
difference to it (``reference``, ``diff``, ``low``, ``high``)."""
REFERENCE = "reference"
BEATS_BASELINES = "beats_baselines"
EXCLUDE_SEEN = "exclude_seen"
TUNING = "tuning"
POLICY = "policy"
"""JSON rows and stored metrics: the diversity policy a row's lists were re-ranked with (or "off")."""
WITH_POLICY = "with_policy"
"""Stored metrics: the same model's figures with its policy applied."""
CONVERGENCE = "convergence"

# the rest of a stored evaluation (rec_run.metrics)
METRICS = "metrics"
EVALUATION = "evaluation"
TRADEOFF = "tradeoff"
CUTOFFS = "cutoffs"
K = "k"


def at_k(name: str, k: int) -> str:
    """``at_k("ndcg", 10)`` -> ``"ndcg@10"``."""
    return f"{name}@{k}"


def cold(name: str) -> str:
    """The cold-start users' version of a metric key: ``cold("mrr")`` -> ``"cold_mrr"``."""
    return f"{COLD}{name}"
