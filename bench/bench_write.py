"""How long writing a run's lists takes: the block re-ranker against the per-list one, same lists.

Writing is what a run does after its fit: the catalog list of every active user and each of the
next menu days' rankings, re-ranked by the model's policy (``policies.apply_policy``), checked
(``validate_recommendations``) and inserted (``write_recommendations``). This fits one model on a
world, then times both paths over the same users and days on the same machine, and prints lists,
rows, seconds per stage and the ratio. The rows are written into a learning run that is failed (its rows
deleted) afterwards; a SQLite world is copied first, so it is left as it was (on MySQL the failed
bench run stays in the run history, marked ``triggered_by = bench``).

    .venv/bin/python bench/bench_write.py                          # demo world (built once), popularity
    .venv/bin/python bench/bench_write.py --large --model sequential
    .venv/bin/python bench/bench_write.py --url mysql+pymysql://root@127.0.0.1/kurrant_de
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import world_url  # noqa: E402  (builds the bench world once)
from bench_retrain import private_copy  # noqa: E402

from kurrant_core import policies  # noqa: E402
from kurrant_core.data import build_training_data  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.models import make_model  # noqa: E402
from kurrant_core.runs.pipeline import USER_BATCH, _batches, active_user_ids, menu_slots, upcoming_menu_dates  # noqa: E402
from kurrant_core.runs.records import abandon_run, start_run  # noqa: E402
from kurrant_core.runs.shared_format import write_recommendations  # noqa: E402


def lists_of(data, users, days, spread: bool):
    """(users, service date, dining type) batches, as ``runs.write_run_lists`` walks them."""
    batches = [(batch, None, None) for batch in _batches(users)]
    for day in days:
        for dining_type, eaters in menu_slots(data, day, users):
            batches += [(batch, day, dining_type)
                        for batch in _batches(eaters, len(users) + 1 if spread else USER_BATCH)]
    return batches


def time_path(engine, model, data, policy, batches, path) -> dict[str, float]:
    run_id = start_run(engine, model.name, {}, data_cutoff=data.cutoff, train_start=None, train_end=None,
                       triggered_by="bench")
    ranked = written = 0.0
    lists = rows = 0
    cpu = time.process_time()
    try:
        for users, day, dining_type in batches:
            started = time.perf_counter()
            recs = path(model, data, users, 10, policy, day, dining_type, None)
            ranked += time.perf_counter() - started
            started = time.perf_counter()
            rows += write_recommendations(engine, run_id, recs)
            written += time.perf_counter() - started
            lists += recs.groupby(["user_id"]).ngroups
    finally:
        abandon_run(engine, run_id, RuntimeError("bench run, deleted"), None)
    return {"rank_s": ranked, "write_s": written, "cpu_s": time.process_time() - cpu,
            "lists": lists, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--model", default="popularity")
    parser.add_argument("--policy", help="policy name (default: the model's own default)")
    parser.add_argument("--skip-per-list", action="store_true", help="time the block path only")
    args = parser.parse_args()
    url = args.url or world_url("large" if args.large else "demo")
    folder = tempfile.TemporaryDirectory(prefix="bench_write_")
    if url.startswith("sqlite:///"):
        url = private_copy(url, Path(folder.name))
    engine = make_engine(url)
    started = time.perf_counter()
    data = build_training_data(engine)
    model = make_model(args.model).fit(data)
    print(f"{args.model} fitted on {data.n_users:,} users in {time.perf_counter() - started:.1f} s")
    policy = policies.get_policy(engine, args.policy or policies.default_policy_name(engine, args.model))
    users = active_user_ids(data)
    batches = lists_of(data, users, upcoming_menu_dates(data), policy.spread_max_share is not None)
    paths = {"block": policies._apply_in_block}
    if not args.skip_per_list:
        paths["per list"] = policies._apply_per_list
    results = {name: time_path(engine, model, data, policy, batches, path) for name, path in paths.items()}
    print(f"policy {policy.name}: {policy.steps_text()}; {len(users):,} active users")
    print(f"{'path':<10}{'lists':>9}{'rows':>11}{'re-rank s':>11}{'write s':>9}{'total s':>9}{'cpu s':>8}")
    for name, r in results.items():
        print(f"{name:<10}{r['lists']:>9,}{r['rows']:>11,}{r['rank_s']:>11.1f}{r['write_s']:>9.1f}"
              f"{r['rank_s'] + r['write_s']:>9.1f}{r['cpu_s']:>8.1f}")
    if len(results) == 2:
        block, per_list = results["block"], results["per list"]
        total = {name: r["rank_s"] + r["write_s"] for name, r in results.items()}
        print(f"re-rank: block is x{per_list['rank_s'] / max(block['rank_s'], 1e-9):.1f} faster; "
              f"whole write x{total['per list'] / max(total['block'], 1e-9):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
