"""The torch recommenders (ncf, sequential) on the demo world: fit and scoring seconds, and how
well they rank held-out daily menus next to the popularity baseline.

"fit s" is wall time, "fit cpu" the process's CPU time (it includes fitting the cold-start
fallback every model carries); on a shared machine the CPU figure is the steadier one.

Protocol: global cutoff 28 days before the world's last service day; train on everything before
it; for every paid order item in the 14 days from the cutoff whose user has history, rank that
day's menu of the user's group and record the chosen food's rank (HR@1, HR@3, MRR). "random" is
the expected value of a uniform ranking of the same menus.

    .venv/bin/python bench/bench_torch_models.py              # demo world
    .venv/bin/python bench/bench_torch_models.py --large      # large world
    .venv/bin/python bench/bench_torch_models.py --threads 2  # torch threads per model
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_models import world_url  # noqa: E402  (same bench folder: one cached world per scale)

from kurrant_core import columns as C  # noqa: E402
from kurrant_core.data import ITEM_IDX, USER_IDX, TrainingData, build_training_data  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.models import make_model  # noqa: E402

TEST_OFFSET_DAYS = 28
HORIZON_DAYS = 14
MODELS = ["popularity", "ncf", "sequential"]


def held_out_orders(full: TrainingData, train: TrainingData) -> pd.DataFrame:
    """Paid items in [cutoff, cutoff + horizon) of users with history before the cutoff."""
    days = full.orders[C.SERVICE_DATE]
    start = pd.Timestamp(train.cutoff)
    test = full.orders[(days >= start) & (days < start + pd.Timedelta(days=HORIZON_DAYS))]
    return test[~train.cold[test[USER_IDX].to_numpy()]]


def menu_ranks(model, data: TrainingData, test: pd.DataFrame) -> np.ndarray:
    """Rank (1 = first) of each test order's food within its group's menu that day and meal."""
    ranks = []
    for (group, day, meal), rows in test.groupby([C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]):
        menu = data.menu_items(group, day, meal)
        users = rows[USER_IDX].to_numpy()
        chosen = rows[ITEM_IDX].to_numpy()
        on_menu = np.isin(chosen, menu)
        if not on_menu.any():
            continue
        scores = model.score(data.user_ids[users[on_menu]], data.food_ids[menu], as_of=day.date())
        own = scores[np.arange(on_menu.sum()), np.searchsorted(menu, chosen[on_menu])]
        ranks.append(1 + (scores > own[:, None]).sum(axis=1))
    return np.concatenate(ranks)


def random_baseline(data: TrainingData, test: pd.DataFrame) -> dict[str, float]:
    """Expected HR@1, HR@3 and MRR of a uniform random ranking of the same menus."""
    sizes = np.array([len(data.menu_items(g, d, m)) for g, d, m in
                      test[[C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]].itertuples(index=False)])
    sizes = sizes[sizes > 0]
    harmonic = np.array([np.sum(1.0 / np.arange(1, n + 1)) for n in sizes])
    return {"hr1": float(np.mean(1 / sizes)), "hr3": float(np.mean(np.minimum(3, sizes) / sizes)),
            "mrr": float(np.mean(harmonic / sizes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="use the large world")
    parser.add_argument("--url", help="a preprocessed DE database instead of the cached world")
    parser.add_argument("--threads", type=int, help="torch threads per model (default: the library's)")
    args = parser.parse_args()
    if args.threads:
        from kurrant_core.models import torch_support
        torch_support.TORCH_THREADS = args.threads
    engine = make_engine(args.url or world_url("large" if args.large else "demo"))

    t0 = time.perf_counter()
    full = build_training_data(engine)
    train = build_training_data(engine, full.cutoff - timedelta(days=TEST_OFFSET_DAYS))
    _ = train.sequences, train.exposures, train.counts
    print(f"data: {train.n_users} users, {train.n_foods} foods, {len(train.orders)} items before "
          f"{train.cutoff} ({time.perf_counter() - t0:.1f}s to build both)")
    test = held_out_orders(full, train)
    warm = np.flatnonzero(~train.cold)

    t0 = time.perf_counter()
    import torch  # noqa: F401  one-off costs every process pays once, kept out of the fit figures
    import torch._dynamo  # noqa: F401  (the first torch.optim optimizer imports it)
    print(f"torch import + optimizer warm-up: {time.perf_counter() - t0:.1f}s (once per process)\n")

    header = (f"{'model':<11} {'fit s':>7} {'fit cpu':>8} {'score s':>8} {'menus s':>8} {'HR@1':>6} "
              f"{'HR@3':>6} {'MRR':>6}")
    print(header + f"   ({len(test)} held-out items, {len(warm)} warm users x {len(train.catalog)} foods)")
    rnd = random_baseline(train, test)
    print(f"{'random':<11} {'':>7} {'':>8} {'':>8} {'':>8} {rnd['hr1']:6.3f} {rnd['hr3']:6.3f} "
          f"{rnd['mrr']:6.3f}")
    for name in MODELS:
        t0, c0 = time.perf_counter(), time.process_time()
        model = make_model(name).fit(train)
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        model.score(train.user_ids[warm], train.food_ids[train.catalog])
        score_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ranks = menu_ranks(model, train, test)
        menus_s = time.perf_counter() - t0
        print(f"{name:<11} {fit_s:7.2f} {fit_cpu:8.2f} {score_s:8.2f} {menus_s:8.2f} "
              f"{np.mean(ranks == 1):6.3f} {np.mean(ranks <= 3):6.3f} {np.mean(1 / ranks):6.3f}", flush=True)


if __name__ == "__main__":
    main()
