"""How long re-ranking takes: four lists of 50 candidates per setting, against a 100 ms budget.

The comparison page re-ranks four models' lists for one user on every knob change, so the
whole batch must stay well under 100 ms. Prints the mean time per batch of four lists for each
setting (and with ``list_report``), over many repeats, and the ratio to the budget; then the
same for 300-candidate lists (a full catalog slice).

    .venv/bin/python bench/bench_rerank.py [--repeats 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kurrant_core.rerank import CandidateSet, RerankSettings, list_report, rerank  # noqa: E402

BUDGET_MS = 100.0
N_LISTS = 4


def make_lists(n_candidates: int, n_features: int = 80, seed: int = 0) -> list[CandidateSet]:
    """Four lists shaped like real menus: sparse non-negative tag features, 7 cuisines."""
    rng = np.random.default_rng(seed)
    lists = []
    for user in range(N_LISTS):
        n = n_candidates
        lists.append(CandidateSet(
            food_ids=np.arange(n) + 1000 * user,
            relevance=rng.normal(size=n),
            features=(rng.random((n, n_features)) < 0.08) * rng.random((n, n_features)),
            category=rng.integers(0, 7, n),
            maker=rng.integers(0, max(3, n // 4), n),
            popularity=rng.integers(0, 500, n),
            days_since_eaten=np.where(rng.random(n) < 0.2, rng.integers(1, 30, n), np.inf),
            user_category_mix={0: 0.3, 1: 0.2, 3: 0.3, 5: 0.2},
            allergen=rng.random(n) < 0.05,
            user_id=user,
        ))
    return lists


SETTINGS = {
    "relevance only": RerankSettings(k=10),
    "mmr": RerankSettings(k=10, mmr_lambda=0.7),
    "dpp": RerankSettings(k=10, dpp_theta=0.7),
    "calibration": RerankSettings(k=10, calibration_lambda=0.5),
    "caps + repeat": RerankSettings(k=10, max_per_category=2, max_per_maker=1,
                                    repeat_window_days=7),
    "popularity + explore": RerankSettings(k=10, popularity_penalty=0.3,
                                           explore_temperature=0.2, seed=1),
    "all knobs on": RerankSettings(k=10, mmr_lambda=0.7, dpp_theta=0.7, calibration_lambda=0.5,
                                   max_per_category=2, max_per_maker=1, repeat_window_days=7,
                                   popularity_penalty=0.3, explore_temperature=0.2, seed=1),
}


def time_batch(lists: list[CandidateSet], settings: RerankSettings, repeats: int,
               with_report: bool) -> float:
    """Mean milliseconds to re-rank (and optionally report on) all lists once."""
    for cands in lists:  # warm up
        rerank(cands, settings)
    start = time.perf_counter()
    for _ in range(repeats):
        for cands in lists:
            result = rerank(cands, settings)
            if with_report:
                list_report(cands, result.positions, settings.k)
    return (time.perf_counter() - start) / repeats * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    for n_candidates in (50, 300):
        lists = make_lists(n_candidates)
        print(f"\n{N_LISTS} lists x {n_candidates} candidates, k = 10, "
              f"mean of {args.repeats} repeats (budget {BUDGET_MS:.0f} ms per batch)")
        print(f"{'setting':<22}{'rerank ms':>11}{'+ report ms':>13}{'of budget':>11}")
        for name, settings in SETTINGS.items():
            plain = time_batch(lists, settings, args.repeats, with_report=False)
            full = time_batch(lists, settings, args.repeats, with_report=True)
            print(f"{name:<22}{plain:>11.2f}{full:>13.2f}{full / BUDGET_MS:>10.1%}")


if __name__ == "__main__":
    main()
