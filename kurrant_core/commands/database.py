"""``init-db`` and ``status``."""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from kurrant_core import config, schema
from kurrant_core.commands import engine_from
from kurrant_core.db import init_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init-db", help="create every DE table that is missing (idempotent)")
    p.set_defaults(func=_init_db)
    p = sub.add_parser("status", help="print the masked DE URL and row counts")
    p.set_defaults(func=_status)
    p = sub.add_parser("ensure-demo", help="fill the DE database with the demo world unless it already holds orders")
    p.add_argument("--scale", default="demo", choices=["tiny", "demo", "large"])
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_ensure_demo)


def _init_db(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    init_db(engine)
    print(f"DE schema ready at {config.mask_url(engine.url)} ({len(schema.metadata.tables)} tables)")
    return 0


def _status(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    init_db(engine)
    print(f"DE database: {config.mask_url(engine.url)}")
    with engine.connect() as conn:
        for table in schema.RAW_TABLES + schema.MART_TABLES:
            n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            print(f"  {table.name:<40} {n:>10,}")
    return 0


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _ensure_demo(args: argparse.Namespace) -> int:
    """What `make run` calls: build the demo world and marts only when they are missing."""
    from kurrant_core.demo import generate_demo_world
    from kurrant_core.preprocess import preprocess

    engine = engine_from(args)
    init_db(engine)
    where = config.mask_url(engine.url)
    if _count(engine, schema.mart_order_item):
        print(f"DE database {where} already holds preprocessed orders; leaving it as it is.")
        return 0
    if not _count(engine, schema.order_item):
        print(f"Generating the {args.scale} demo world (seed {args.seed}) into {where} ...")
        generate_demo_world(engine, scale=args.scale, seed=args.seed)
    print("Building the marts ...")
    preprocess(engine)
    print("Demo DE database ready.")
    return 0
