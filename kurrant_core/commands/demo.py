"""``demo-data``: fill the DE database's raw mirror with a generated Kurrant world."""
from __future__ import annotations

import argparse
import time

from kurrant_core import config
from kurrant_core.commands import engine_from
from kurrant_core.db import init_db
from kurrant_core.demo import SCALES, generate_demo_world
from kurrant_core.raw_changes import forget_raw_state


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo-data", help="generate the demo world into the raw mirror tables (replaces them)")
    p.add_argument("--scale", choices=list(SCALES), default="demo",
                   help="tiny (tests), demo (dashboard, default) or large (benchmarks)")
    p.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same world")
    p.set_defaults(func=_demo_data, creates_database=True)


def _demo_data(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    init_db(engine)
    started = time.perf_counter()
    counts = generate_demo_world(engine, scale=args.scale, seed=args.seed)
    with engine.begin() as conn:        # a new world, not a sync: the next preprocess rebuilds every mart
        forget_raw_state(conn)
    seconds = time.perf_counter() - started
    print(f"demo world '{args.scale}' (seed {args.seed}) written to {config.mask_url(engine.url)}")
    for table, n in counts.items():
        print(f"  {table:<40} {n:>10,}")
    print(f"  {'total':<40} {sum(counts.values()):>10,} rows in {seconds:.1f} s")
    print("Run `python -m kurrant_core preprocess` to rebuild the marts from it.")
    return 0
