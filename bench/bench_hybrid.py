"""Hybrid vs popularity (and the hybrid's inner models) on the demo world: quality and seconds.

Train with the cutoff 14 days before the last service date; daily-menu protocol (rank each test
order's menu: HR@1, HR@3, MRR) and catalog protocol (NDCG@10, Recall@10) through
``kurrant_core.evaluation``. Prints fit / scoring seconds and the hybrid / popularity ratios (the
target: HR@1 >= 1.3 x popularity's).

    .venv/bin/python bench/bench_hybrid.py                        # demo world (built once)
    .venv/bin/python bench/bench_hybrid.py --url sqlite:///path.sqlite --models popularity hybrid
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_models import world_url  # noqa: E402
from kurrant_core import columns as C  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.evaluation import names as N  # noqa: E402
from kurrant_core.evaluation.protocols import catalog_accuracy, daily_menu_accuracy, rank_daily_menus, truth_of  # noqa: E402
from kurrant_core.evaluation.split import default_split, split_data  # noqa: E402
from kurrant_core.models import make_model  # noqa: E402

K = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="DE database URL (default: the demo world, built once)")
    parser.add_argument("--models", nargs="+", default=["popularity", "als", "content", "hybrid"])
    args = parser.parse_args()
    engine = make_engine(args.url or world_url("demo"))
    t0 = time.perf_counter()
    data, test = split_data(engine, default_split(engine))
    truth = truth_of(test)
    print(f"cutoff {data.cutoff}: {len(data.orders)} training items, {len(test)} test orders, "
          f"data {time.perf_counter() - t0:.1f}s")
    results = {}
    for name in args.models:
        t0 = time.perf_counter()
        model = make_model(name).fit(data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        menu = daily_menu_accuracy(rank_daily_menus(model, data, test))
        menu_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.recommend(data.user_ids, 1, service_date=test[C.SERVICE_DATE].min().date())
        one_day_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        catalog = catalog_accuracy(model.recommend(truth[C.USER_ID].unique(), K), truth, K)
        catalog_s = time.perf_counter() - t0
        results[name] = {**menu, **catalog}
        print(f"{name:11s} fit {fit_s:5.1f}s  test menus {menu_s:5.1f}s  one day, all users {one_day_s:4.1f}s  "
              f"catalog {catalog_s:5.1f}s | "
              f"HR@1 {menu[N.at_k(N.HR, 1)]:.3f}  HR@3 {menu[N.at_k(N.HR, 3)]:.3f}  "
              f"MRR {menu[N.MRR]:.3f} (random HR@1 {menu['random_' + N.at_k(N.HR, 1)]:.3f}) | "
              f"NDCG@{K} {catalog[N.at_k(N.NDCG, K)]:.3f}  Recall@{K} {catalog[N.at_k(N.RECALL, K)]:.3f}",
              flush=True)
    if {"hybrid", "popularity"} <= set(results):
        hyb, pop = results["hybrid"], results["popularity"]
        for key in (N.at_k(N.HR, 1), N.MRR, N.at_k(N.NDCG, K)):
            print(f"hybrid / popularity {key}: {hyb[key] / pop[key]:.2f}x")


if __name__ == "__main__":
    main()
