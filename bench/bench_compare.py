"""How long the comparison page takes to answer a knob move: re-rank + report + assembly of four
lists of 50 candidates (``kurrant_core.compare.side_by_side``), against a 100 ms budget.

Part 1 uses four synthetic pools shaped like real menus (those of ``bench_rerank.py``) and prints,
per knob setting, the time of the bare re-rankers (``rerank`` + ``list_report``), of the page's full
path (baseline reports, marks, overlap, category mix, the shown DataFrames) and the ratio to the
budget. Part 2, given a DE database with data (``--url``, default: the configured one), fits four
models on it, times the cached step the page does once per (run, user, date) — scoring and
explaining a heavy user's 50-candidate catalog pool — and then the knob path on those real pools.

    .venv/bin/python bench/bench_compare.py [--repeats 200] [--url sqlite:///data/kurrant_de.sqlite]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rerank import N_LISTS, SETTINGS, make_lists  # noqa: E402

from kurrant_core import codes, columns as C, compare  # noqa: E402
from kurrant_core.rerank import list_report, rerank  # noqa: E402

BUDGET_MS = 100.0
POOL = 50
MODELS = ("popularity", "content", "als", "hybrid")


def synthetic_pools() -> list[compare.ScoredCandidates]:
    """The bench_rerank pools with food facts and why-lines, as the page caches them."""
    pools = []
    for n, pool in enumerate(make_lists(POOL)):
        ids = pool.food_ids
        foods = pd.DataFrame({
            C.FOOD_ID: ids, C.FOOD_NAME: [f"음식 {f}" for f in ids],
            C.MAKERS_NAME: [f"메이커스 {m}" for m in pool.maker],
            C.CUISINE_LABEL: [codes.FOOD_TAG[int(c) + 1] for c in pool.category], C.SPICINESS_LABEL: "맵지 않음",
            C.PRICE: 8000, C.SCORE: pool.relevance,
            C.MODEL_RANK: np.argsort(np.argsort(-pool.relevance, kind="stable"), kind="stable") + 1,
            C.WHY: [f"shares 한식 · 집밥 with your past orders ({f})" for f in ids]})
        pools.append(compare.ScoredCandidates(n + 1, f"model #{n + 1}", foods, pool))
    return pools


def synthetic_history(pools: list[compare.ScoredCandidates], n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    foods = np.concatenate([p.foods[C.FOOD_ID].to_numpy() for p in pools])
    return pd.DataFrame({C.SERVICE_DATE: pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.integers(0, 150, n), "D"),
                         C.FOOD_ID: rng.choice(foods, n),
                         C.CUISINE_LABEL: rng.choice(list(codes.TAG_CATEGORY_CODES[codes.CUISINE]), n).astype(str)})


def mean_ms(fn, repeats: int) -> float:
    fn()                                                  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000.0


def bare(pools, settings) -> None:
    for p in pools:
        result = rerank(p.candidates, settings)
        list_report(p.candidates, result.positions, settings.k)


def knob_table(pools, history, repeats: int) -> None:
    print(f"{'setting':<22}{'rerank+report ms':>18}{'page path ms':>14}{'of budget':>11}{'overhead':>10}")
    for name, settings in SETTINGS.items():
        plain = mean_ms(lambda: bare(pools, settings), repeats)
        full = mean_ms(lambda: compare.side_by_side(pools, settings, history), repeats)
        print(f"{name:<22}{plain:>18.2f}{full:>14.2f}{full / BUDGET_MS:>10.1%}{full / plain:>9.1f}x")


def real_models(url: str | None, repeats: int) -> None:
    from kurrant_core.data import build_training_data
    from kurrant_core.db import check_ready, make_engine
    from kurrant_core.errors import KurrantError
    from kurrant_core.models import make_model

    engine = make_engine(url)
    try:
        check_ready(engine)
    except KurrantError as exc:
        print(f"\n(part 2 skipped: {exc})")
        return
    data = build_training_data(engine)
    user = compare.pick_user(engine, compare.HEAVY)
    print(f"\nPart 2: {engine.url.render_as_string()} — {data.n_users} users x {data.n_foods} foods, "
          f"heavy user {user}, catalog pools of up to {POOL}")
    pools = []
    for name in MODELS:
        start = time.perf_counter()
        model = make_model(name).fit(data)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        pools.append(compare.score_candidates(model, user, run_id=len(pools) + 1, label=name, n=POOL))
        score_ms = (time.perf_counter() - start) * 1000.0
        print(f"  {name:<11} fit {fit_s:6.2f} s   score + explain the pool {score_ms:7.1f} ms (cached per "
              f"run, user, date), pool {len(pools[-1].foods)}")
    history = compare.user_history(engine, user)
    print(f"{len(pools)} real lists, mean of {repeats} repeats (budget {BUDGET_MS:.0f} ms per knob move)")
    knob_table(pools, history, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--url", default=None, help="DE database for part 2 (default: the configured one)")
    parser.add_argument("--synthetic-only", action="store_true")
    args = parser.parse_args()
    pools = synthetic_pools()
    print(f"Part 1: {N_LISTS} synthetic lists x {POOL} candidates, k = 10, mean of {args.repeats} repeats "
          f"(budget {BUDGET_MS:.0f} ms per knob move)")
    knob_table(pools, synthetic_history(pools), args.repeats)
    if not args.synthetic_only:
        real_models(args.url, args.repeats)


if __name__ == "__main__":
    main()
