"""Time to build an ensemble of done runs from their stored rows (the issue's target: < 10 s for
three runs, the 5 pre-computed menu days and every user's catalog list, demo world).

    KURRANT_DE_URL=sqlite:////tmp/de.sqlite python bench/bench_ensemble.py --members hybrid,sequential,content

Writes one ensemble run per rule and policy asked (point it at a copy of the DE database).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kurrant_core import runs  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.ensembles import build_ensemble  # noqa: E402
from kurrant_core.errors import KurrantError  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="hybrid,sequential,content",
                        help="run ids or model names (their active runs)")
    parser.add_argument("--rules", default="rrf,blend")
    parser.add_argument("--policies", default="default,off")
    args = parser.parse_args()
    engine = make_engine()
    for rule in args.rules.split(","):
        for policy in args.policies.split(","):
            started = time.perf_counter()
            try:
                run_id = build_ensemble(engine, args.members, rule, policy=policy, triggered_by="bench")
            except KurrantError as exc:          # no runs to fuse in this database: say so, not a failure
                print(f"skipped: {exc}")
                return
            seconds = time.perf_counter() - started
            rows = runs.read_recommendations(engine, run_id)
            print(f"{rule:6s} policy {policy:8s} run {run_id}: {len(rows):,} rows "
                  f"({int(rows['service_date'].notna().sum()):,} dated) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
