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
