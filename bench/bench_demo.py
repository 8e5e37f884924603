"""Demo world: rows generated and seconds for ``demo-data`` and ``preprocess``, per scale and backend.

Each run uses a fresh database: a temporary SQLite file, and a temporary MariaDB database
``kl_bench_<random>`` that is dropped afterwards. Prints one line per (scale, backend) with the
generation split into building the world in memory and writing it, plus rows per second.

    .venv/bin/python bench/bench_demo.py                    # tiny and demo, SQLite and MariaDB
    .venv/bin/python bench/bench_demo.py --large            # also the large world
    .venv/bin/python bench/bench_demo.py --scales demo --backends mysql
    .venv/bin/python bench/bench_demo.py --scales large --backends mysql --no-preprocess
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kurrant_core.db import init_db, make_engine  # noqa: E402
from kurrant_core.demo import WORLD_TABLES, build_world, generate_demo_world, get_scale  # noqa: E402

MYSQL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"
SEED = 42

try:
    from kurrant_core.preprocess import preprocess
except ImportError:                      # preprocess not built yet: time demo-data only
    preprocess = None


def _mysql_database() -> tuple[str, callable]:
    name = f"kl_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(MYSQL_SERVER_URL + "/")
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()
    return f"{MYSQL_SERVER_URL}/{name}", drop


def run(scale: str, backend: str, folder: Path, with_preprocess: bool = True) -> dict:
    if backend == "sqlite":
        url, drop = f"sqlite:///{folder / f'{scale}.sqlite'}", (lambda: None)
    else:
        url, drop = _mysql_database()
    engine = make_engine(url)
    try:
        init_db(engine)
        t0 = time.perf_counter()
        build_world(get_scale(scale), SEED)            # the in-memory part alone, for the split
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        counts = generate_demo_world(engine, scale=scale, seed=SEED)
        demo_s = time.perf_counter() - t0
        print(f"  ({scale}/{backend}: demo-data {demo_s:.1f} s for {sum(counts.values()):,} rows)",
              file=sys.stderr, flush=True)
        prep_s, marts = float("nan"), {}
        if preprocess is not None and with_preprocess:
            t0 = time.perf_counter()
            marts = preprocess(engine)
            prep_s = time.perf_counter() - t0
    finally:
        engine.dispose()
        drop()
    rows = sum(counts.values())
    return {"scale": scale, "backend": backend, "rows": rows, "order_items": counts["order__order_item"],
            "build_s": build_s, "demo_s": demo_s, "write_s": demo_s - build_s, "prep_s": prep_s,
            "mart_rows": sum(marts.values()) if marts else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["tiny", "demo"])
    parser.add_argument("--large", action="store_true", help="also the large world")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "mysql"])
    parser.add_argument("--no-preprocess", action="store_true", help="time demo-data only")
    args = parser.parse_args()
    scales = args.scales + (["large"] if args.large and "large" not in args.scales else [])
    print(f"{'scale':<6} {'backend':<7} {'rows':>10} {'items':>10} {'build s':>8} {'write s':>8} "
          f"{'demo-data s':>11} {'rows/s':>9} {'preprocess s':>12} {'total s':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for scale in scales:
            for backend in args.backends:
                r = run(scale, backend, Path(folder), with_preprocess=not args.no_preprocess)
                total = r["demo_s"] + r["prep_s"]
                print(f"{r['scale']:<6} {r['backend']:<7} {r['rows']:>10,} {r['order_items']:>10,} "
                      f"{r['build_s']:>8.1f} {r['write_s']:>8.1f} {r['demo_s']:>11.1f} "
                      f"{r['rows'] / r['demo_s']:>9,.0f} {r['prep_s']:>12.1f} {total:>8.1f}", flush=True)
    print(f"({len(WORLD_TABLES)} tables; seed {SEED}; 'write s' = demo-data minus the in-memory build)")


if __name__ == "__main__":
    main()
