"""Shipped catalog top-10s against the users' own histories: cuisines per list, top cuisine share.

For each done run (or those given), its stored catalog lists (as its policy shipped them) and the
same users' orders before the run's cutoff, side by side, with the ratio list / history.

    .venv/bin/python bench/bench_list_variety.py [--url URL] [--runs 3,5,7]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from kurrant_core import config, schema as S  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.evaluation.variety import history_spread, last_items_spread, run_catalog_spread, spread_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None)
    parser.add_argument("--runs", default=None, help="run ids (default: every done run)")
    args = parser.parse_args()
    engine = make_engine(args.url or config.de_url())
    runs = S.rec_run.c
    with engine.connect() as conn:
        rows = pd.read_sql(sa.select(runs.run_id, runs.model, runs.data_cutoff, runs.params)
                           .where(runs.status == S.RUN_DONE).order_by(runs.run_id), conn)
    if args.runs:
        rows = rows[rows.run_id.isin([int(x) for x in args.runs.split(",")])]
    print("cuisines and top-cuisine share: the shipped top-10 / the whole history / the last 10 items")
    print(f"{'run':>5} {'model':>12} {'policy':>10} {'users':>6} {'cuisines':>20} {'top share':>20} "
          f"{'single-cuisine':>15}")
    for row in rows.itertuples():
        lists = run_catalog_spread(engine, row.run_id)
        if lists.empty:
            continue
        hist = history_spread(engine, lists.index, row.data_cutoff)
        lists = lists.loc[lists.index.intersection(hist.index)]
        a, b = spread_summary(lists), spread_summary(hist.loc[lists.index])
        c = spread_summary(last_items_spread(engine, lists.index, row.data_cutoff))
        policy = json.loads(row.params).get("policy", {}).get("name", "off") if row.params else "off"
        print(f"{row.run_id:>5} {row.model:>12} {policy:>10} {len(lists):>6} "
              f"{a['median_cuisines']:>6.1f} /{b['median_cuisines']:>5.1f} /{c['median_cuisines']:>5.1f} "
              f"{a['median_top_share']:>6.2f} /{b['median_top_share']:>5.2f} /{c['median_top_share']:>5.2f} "
              f"{a['single_cuisine']:>6.2f} / {c['single_cuisine']:.2f}")


if __name__ == "__main__":
    main()
