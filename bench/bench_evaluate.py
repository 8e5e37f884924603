"""The leaderboard on the demo world, with intervals against the baselines, and the issue's targets.

Runs the production evaluation (``kurrant_core.evaluation.evaluate``: global cutoff, last 14 days
as the test window, each model stored as a run, baselines always included) and prints both
protocols' leaderboards with each model's paired bootstrap interval against the best baseline,
the seconds each model took, and whether each target of the habits issue holds:

- every learned model beats ``history`` on daily-menu MRR with the interval above 0;
- the best model's daily-menu HR@1 is at least 1.25 x history's;
- every learned model is at least history's catalog NDCG@10;
- with ``--tune``: tuning plus the full evaluation of every model takes under 5 minutes.

With ``--large`` it only fits each model on the large world and prints the fit seconds.

    .venv/bin/python bench/bench_evaluate.py                       # demo world, every model
    .venv/bin/python bench/bench_evaluate.py --tune                # tune on validation first
    .venv/bin/python bench/bench_evaluate.py --models als history
    .venv/bin/python bench/bench_evaluate.py --large               # fit seconds, large world
    .venv/bin/python bench/bench_evaluate.py --url sqlite:////tmp/demo.sqlite
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pandas as pd  # noqa: E402
from bench_models import world_url  # noqa: E402  (builds the bench world once)

from kurrant_core import columns as C  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.evaluation import (  # noqa: E402
    default_split,
    evaluate,
    leaderboard_frame,
    names as N,
    resolve_models,
    split_data,
    summary_columns,
)
from kurrant_core.models import make_model  # noqa: E402

HABITS = "history"
HR1_RATIO_TARGET = 1.25
BUDGET_S = 300.0
K = 10


def print_targets(runs: list[dict], wall: float, tuned: bool) -> None:
    """One line per target of the issue: the figures, the ratio and whether it holds."""
    menu = {r[C.MODEL]: r[N.METRICS][N.DAILY_MENU] for r in runs}
    catalog = {r[C.MODEL]: r[N.METRICS][N.CATALOG] for r in runs}
    versus = {r[C.MODEL]: r[N.METRICS].get(N.VERSUS_BASELINE, {}) for r in runs}
    learned = [r[C.MODEL] for r in runs if not r[N.METRICS].get(N.BASELINE)]
    base_mrr, base_hr1 = menu[HABITS][N.MRR], menu[HABITS][N.at_k(N.HR, 1)]
    print(f"\ntargets (baseline {HABITS}: daily-menu MRR {base_mrr:.4f}, HR@1 {base_hr1:.4f})")
    for name in learned:
        iv = versus[name].get(N.DAILY_MENU, {}).get(N.MRR, {})
        ok = bool(iv.get(N.BEATS_BASELINES))          # the best baseline is at least history
        print(f"  {'ok  ' if ok else 'MISS'} {name:<11} MRR {menu[name][N.MRR]:.4f} vs {base_mrr:.4f} "
              f"(x{menu[name][N.MRR] / base_mrr:.3f}); diff to best baseline ({iv.get(N.REFERENCE)}) "
              f"{iv.get('diff', float('nan')):+.4f} [{iv.get('low', float('nan')):+.4f}, "
              f"{iv.get('high', float('nan')):+.4f}]")
    if learned:
        best = max(learned, key=lambda name: menu[name][N.at_k(N.HR, 1)])
        ratio = menu[best][N.at_k(N.HR, 1)] / base_hr1
        print(f"  {'ok  ' if ratio >= HR1_RATIO_TARGET else 'MISS'} best HR@1 {best} "
              f"{menu[best][N.at_k(N.HR, 1)]:.4f} = x{ratio:.3f} {HABITS}'s (target x{HR1_RATIO_TARGET})")
    ndcg = N.at_k(N.NDCG, K)
    for name in learned:
        ok = catalog[name][ndcg] >= catalog[HABITS][ndcg]
        print(f"  {'ok  ' if ok else 'MISS'} {name:<11} catalog {ndcg} {catalog[name][ndcg]:.4f} "
              f"vs {catalog[HABITS][ndcg]:.4f} (x{catalog[name][ndcg] / catalog[HABITS][ndcg]:.3f})")
    cores = len(os.sched_getaffinity(0))
    label = "tuning + evaluation" if tuned else "evaluation (no tuning)"
    print(f"  {'ok  ' if wall < BUDGET_S else 'MISS'} {label} of every model: {wall:.1f} s wall "
          f"(budget {BUDGET_S:.0f} s; {cores} usable cores)")
    for name, m in menu.items():
        print(f"       {name:<11} fit {m[N.FIT_SECONDS]:7.1f} s wall {m[N.FIT_CPU_SECONDS]:7.1f} CPU s")


def bench_demo(url: str, models: list[str], tune: bool = False, policy: str = "default") -> None:
    engine = make_engine(url)
    started = time.perf_counter()
    evaluations = evaluate(engine, models, k=K, tune=tune, policy=policy, triggered_by="bench")
    wall = time.perf_counter() - started
    runs = [{C.MODEL: e.model, C.RUN_ID: e.run_id, N.METRICS: e.stored_metrics()}
            for e in evaluations]
    split = evaluations[0].split
    print(f"\ncutoff {split.cutoff}, test window {split.horizon_days} days, k = {K}; "
          f"whole evaluation {wall:.1f} s wall")
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.float_format", "{:.4f}".format):
        for protocol in N.PROTOCOLS:
            board = leaderboard_frame(runs, protocol)
            print(f"\n{protocol}")
            print(board[summary_columns(board, protocol, K)].to_string(index=False))
        print("\nMMR trade-off (ndcg@10 / ild per lambda)")
        curves = pd.DataFrame([{C.MODEL: e.model, **p} for e in evaluations
                               for p in e.scores.tradeoff])
        if not curves.empty:
            print(curves.to_string(index=False))
    if tune:
        print("\ntuned on the validation window (never the test window)")
        for e in evaluations:
            print(f"  {e.model:<11} {e.tuned}")
    print_targets(runs, wall, tune)


def bench_large_fit(url: str, models: list[str]) -> None:
    engine = make_engine(url)
    split = default_split(engine)
    started = time.perf_counter()
    data, _ = split_data(engine, split)
    print(f"\nlarge world: {data.n_users:,} users, {data.n_foods:,} foods, {len(data.orders):,} "
          f"training items before {split.cutoff} (data built in {time.perf_counter() - started:.1f} s)")
    total = total_cpu = 0.0
    for name in models:
        started, cpu_started = time.perf_counter(), time.process_time()
        make_model(name).fit(data)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        total, total_cpu = total + seconds, total_cpu + cpu
        print(f"  {name:<12} fit {seconds:8.1f} s wall {cpu:8.1f} CPU s", flush=True)
    print(f"  {'total':<12} fit {total:8.1f} s wall {total_cpu:8.1f} CPU s "
          f"({len(os.sched_getaffinity(0))} usable cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="fit seconds on the large world")
    parser.add_argument("--url", help="an already preprocessed DE database to use instead")
    parser.add_argument("--models", nargs="*", help="model names (default: every model)")
    parser.add_argument("--tune", action="store_true", help="tune on the validation window first")
    parser.add_argument("--policy", default="default",
                        help="also score each model with this diversity policy (off: skip)")
    args = parser.parse_args()
    models = resolve_models(args.models or "all")
    url = args.url or world_url("large" if args.large else "demo")
    with tempfile.TemporaryDirectory() as artifacts:
        os.environ["KURRANT_ARTIFACT_DIR"] = artifacts
        if args.large:
            bench_large_fit(url, models)
        else:
            bench_demo(url, models, args.tune, args.policy)


if __name__ == "__main__":
    main()
