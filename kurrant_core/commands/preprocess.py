"""``preprocess``: rebuild the marts from the raw mirror."""
from __future__ import annotations

import argparse
import time

from kurrant_core.commands import engine_from
from kurrant_core.preprocess import preprocess


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="rebuild the marts from the raw mirror (readers never see half a mart)")
    p.add_argument("--full", action="store_true", help="always rebuild everything (default: patch the marts "
                                                       "when a few raw rows were only added or updated; "
                                                       "deleted or replaced rows rebuild everything)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    counts = preprocess(engine_from(args), incremental=False if args.full else None)
    for name, n in counts.items():
        print(f"  {name:<20} {n:>10,} rows")
    print(f"preprocess done in {time.perf_counter() - t0:.1f} s")
    return 0
