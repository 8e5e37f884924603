"""Rows per second of a full production -> DE sync, MariaDB -> MariaDB, per driver.

Builds (once, then reuses) a production look-alike database from the demo world, then for each
driver syncs it into a fresh DE database with no pause between chunks, and prints rows/s overall
and for the biggest tables. mysqlclient (``mysql+mysqldb``) is skipped with a note when it is not
installed (it needs ``apt-get install -y libmariadb-dev pkg-config`` and ``pip install
mysqlclient==2.3.1``).

    .venv/bin/python bench/bench_sync.py                  # demo scale
    .venv/bin/python bench/bench_sync.py --scale large --chunk-size 10000
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kurrant_core import schema
from kurrant_core.db import init_db, make_engine
from kurrant_core.sync import sync_tables
from kurrant_core.sync.production_schema import fill_production_from_demo

DRIVERS = {"pymysql": "pymysql", "mysqlclient": "mysqldb"}
DRIVER_MODULES = {"pymysql": "pymysql", "mysqlclient": "MySQLdb"}


def server_url(server: str, driver: str, database: str = "") -> str:
    return make_url(server).set(drivername=f"mysql+{DRIVERS[driver]}", database=database or None) \
        .render_as_string(hide_password=False)


def ensure_production(server: str, name: str, scale: str, seed: int) -> int:
    """Create and fill the production look-alike unless a full one is already there; returns rows."""
    admin = sa.create_engine(server_url(server, "pymysql"))
    with admin.begin() as conn:
        exists = conn.exec_driver_sql(f"SHOW DATABASES LIKE '{name}'").first() is not None
        if exists:
            done = conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{name}' "
                f"AND table_name = '{schema.review.name}'").scalar()
            if not done:
                conn.exec_driver_sql(f"DROP DATABASE `{name}`")
                exists = False
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.dispose()
    prod = sa.create_engine(server_url(server, "pymysql", name))
    if not exists:
        t0 = time.perf_counter()
        counts = fill_production_from_demo(prod, scale=scale, seed=seed)
        print(f"built production look-alike {name}: {sum(counts.values()):,} rows "
              f"in {time.perf_counter() - t0:.0f} s")
    with prod.connect() as conn:
        total = sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                    for t in schema.RAW_TABLES)
    prod.dispose()
    return total


def bench_driver(server: str, driver: str, production: str, chunk_size: int) -> dict | None:
    if importlib.util.find_spec(DRIVER_MODULES[driver]) is None:
        print(f"{driver:<12} skipped: module {DRIVER_MODULES[driver]} is not installed")
        return None
    de_name = f"kl_bench_sync_de_{driver}"
    admin = sa.create_engine(server_url(server, "pymysql"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{de_name}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{de_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    de = make_engine(server_url(server, driver, de_name))
    try:
        init_db(de)
        t0 = time.perf_counter()
        results = sync_tables(server_url(server, driver, production), de, chunk_size=chunk_size, pause_s=0)
        seconds = time.perf_counter() - t0
    finally:
        de.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{de_name}`")
        admin.dispose()
    rows = sum(r.rows for r in results)
    print(f"{driver:<12} {rows:>10,} rows in {seconds:7.1f} s = {rows / seconds:>9,.0f} rows/s")
    for r in sorted(results, key=lambda r: -r.rows)[:4]:
        print(f"    {r.table_name:<36} {r.rows:>10,} rows {r.rows / max(r.seconds, 1e-9):>9,.0f} rows/s")
    return {"rows": rows, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=["tiny", "demo", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--server", default="mysql+pymysql://root@127.0.0.1:3306",
                        help="MariaDB server URL (no database)")
    parser.add_argument("--drivers", nargs="+", default=list(DRIVERS), choices=list(DRIVERS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    production = f"kl_bench_sync_prod_{args.scale}_{args.seed}"
    total = ensure_production(args.server, production, args.scale, args.seed)
    print(f"full sync of {total:,} rows, scale {args.scale}, chunk {args.chunk_size}, no pause")
    figures = {d: bench_driver(args.server, d, production, args.chunk_size) for d in args.drivers}
    done = {d: f for d, f in figures.items() if f}
    if len(done) == 2:
        py, c = (done[d]["rows"] / done[d]["seconds"] for d in DRIVERS)
        print(f"mysqlclient / pymysql throughput: {c / py:.2f}x")


if __name__ == "__main__":
    main()
