"""How long auto-order planning takes, against the issue's budget of 2 s for one date of 2,000 users.

1. The solver alone on synthetic dates shaped like Kurrant's (2,000 and 10,000 users, 12 foods per
   group menu, 15 groups, tight makers), optimal (HiGHS) and greedy, with the objective of each.
2. The whole planner on a DE database (default: the configured one, copied to /tmp first): every
   user still in a group opted in for the first upcoming lunch (the run's stored rows serve the
   preferences) and for a past lunch (the run's saved model scores them through its policy).

    .venv/bin/python bench/bench_auto_order.py [--url sqlite:///data/kurrant_de.sqlite] [--run ID]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kurrant_core import auto_order, columns as C, config  # noqa: E402
from kurrant_core.auto_order import solver  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402

BUDGET_S = 2.0


def synthetic(n_users: int, n_groups: int = 15, menu: int = 12, seed: int = 0) -> solver.Problem:
    rng = np.random.default_rng(seed)
    n_foods, n_makers = n_groups * menu, n_groups * 3
    group = rng.integers(0, n_groups, n_users)
    users = np.repeat(np.arange(n_users), menu)
    foods = (group[:, None] * menu + np.arange(menu)[None, :]).ravel()
    keep = rng.random(len(users)) < 0.9                     # allergies, caps and avoid-lists
    demand = n_users / n_makers
    return solver.Problem(
        user=users[keep], food=foods[keep], value=rng.random(keep.sum()) ** 2, user_group=group,
        food_maker=rng.integers(0, n_makers, n_foods), food_room=rng.integers(5, 60, n_foods),
        maker_room=np.maximum(1, (demand * rng.uniform(0.8, 1.3, n_makers)).astype(int)),
        spread_free=np.full(n_groups, int(0.5 * n_users / n_groups)), spread_penalty=0.3)


def time_it(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_solver() -> None:
    print("solver alone (best of 3)")
    print(f"{'users':>7} {'pairs':>7} {'optimal s':>10} {'greedy s':>9} {'objective':>11} {'greedy obj':>11} "
          f"{'x budget':>9}")
    for n in (2_000, 10_000):
        p = synthetic(n)
        t_opt, chosen = time_it(lambda: solver.solve_optimal(p))
        t_greedy, greedy = time_it(lambda: solver.solve_greedy(p))
        print(f"{n:>7,} {len(p.user):>7,} {t_opt:>10.3f} {t_greedy:>9.3f} {solver.objective(p, chosen):>11.1f} "
              f"{solver.objective(p, greedy):>11.1f} {t_opt / BUDGET_S:>9.2f}")


def bench_planner(url: str, run_id: int | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_ao_"))
    if url.startswith("sqlite:///"):
        source = Path(url.removeprefix("sqlite:///"))
        shutil.copy(source, folder / "de.sqlite")
        url = f"sqlite:///{folder / 'de.sqlite'}"
    engine = make_engine(url)
    run_id = run_id or auto_order.default_run_id(engine)
    import pandas as pd
    import sqlalchemy as sa

    from kurrant_core import access, schema as S
    with engine.connect() as conn:
        users = pd.read_sql(sa.select(S.mart_user.c[C.USER_ID]).where(S.mart_user.c[C.LEFT_ON].is_(None)), conn)
        days = pd.read_sql(sa.select(S.mart_daily_menu.c[C.SERVICE_DATE]).where(
            S.mart_daily_menu.c[C.DINING_TYPE] == 2).distinct().order_by(S.mart_daily_menu.c[C.SERVICE_DATE]), conn)
        last_order = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar()
    everyone = [auto_order.make_setting(int(u), weekdays="0,1,2,3,4,5,6", active_from="2020-01-01")
                for u in users[C.USER_ID]]
    auto_order.save_settings(engine, everyone, by=access.Person("bench", access.TEAM, access.VIA_CLI))
    all_days = [pd.Timestamp(d).date() for d in days[C.SERVICE_DATE]]
    last = pd.Timestamp(last_order).date()
    upcoming = next(d for d in all_days if d > last)
    past = max(d for d in all_days if d <= last)
    print(f"\nwhole planner on {engine.url.render_as_string(hide_password=True)}, run {run_id}, "
          f"{len(everyone):,} users opted in")
    print(f"{'date':>11} {'mode':>8} {'users':>6} {'planned':>8} {'seconds':>8} {'x budget':>9}  preferences from")
    from kurrant_core import policies, runs
    from kurrant_core.compare.runs import load_run_model
    load_s, model = time_it(lambda: load_run_model(engine, run_id), repeats=1)
    policy = policies.run_policy(runs.get_run(engine, run_id).params)
    cases = ((upcoming, auto_order.PREVIEW, "stored rows", {}),
             (past, auto_order.REPLAY, "saved model + policy (loaded each time)", {}),
             (past, auto_order.REPLAY, "model + policy already loaded (as the server holds it)",
              {"model": model, "policy": policy}))
    for day, mode, source, extra in cases:
        seconds, plan = time_it(lambda: auto_order.plan_meal(engine, day, 2, run_id=run_id, mode=mode, **extra),
                                repeats=2)
        print(f"{day!s:>11} {mode:>8} {plan.n_users:>6,} {plan.n_planned:>8,} {seconds:>8.2f} "
              f"{seconds / BUDGET_S:>9.2f}  {source}")
    print(f"(loading the run's model alone: {load_s:.2f} s)")
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="DE URL (default: the configured one)")
    parser.add_argument("--run", type=int, default=None)
    parser.add_argument("--solver-only", action="store_true")
    args = parser.parse_args()
    bench_solver()
    if not args.solver_only:
        bench_planner(args.url or config.de_url(), args.run)


if __name__ == "__main__":
    main()
