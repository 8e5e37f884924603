"""``init-db`` and ``status``."""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from kurrant_core import access, config, schema
from kurrant_core.commands import engine_from
from kurrant_core.db import init_db, marts_current
from kurrant_core.first_run import ensure_local_team_password


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init-db", help="create every DE table that is missing (idempotent)")
    p.set_defaults(func=_init_db, creates_database=True)
    p = sub.add_parser("status", help="print the masked DE URL and row counts")
    p.set_defaults(func=_status)
    p = sub.add_parser("ensure-demo", help="fill the DE database with the demo world unless it already holds orders")
    p.add_argument("--scale", default="demo", choices=["tiny", "demo", "large"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-train", action="store_true",
                   help="do not start the background retrain of every model when no run exists yet")
    p.set_defaults(func=_ensure_demo, creates_database=True)


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
    built = _count(engine, schema.mart_order_item)
    with engine.connect() as conn:
        current = marts_current(conn)
    if built and not current:
        print(f"DE database {where}: the marts were built by another version; rebuilding them ...")
        preprocess(engine, incremental=False)
        print("Demo DE database ready.")
    elif built:
        print(f"DE database {where} already holds preprocessed orders; leaving it as it is.")
    else:
        if not _count(engine, schema.order_item):
            print(f"Generating the {args.scale} demo world (seed {args.seed}) into {where} ...")
            generate_demo_world(engine, scale=args.scale, seed=args.seed)
        print("Building the marts ...")
        preprocess(engine)
        print("Demo DE database ready.")
    _first_password(engine)
    if not args.no_train:
        _train_first_runs(engine)
    return 0


def _first_password(engine: sa.Engine) -> None:
    """On the embedded demo with no team password yet: make one and show it this once."""
    password = ensure_local_team_password(engine)
    if password is None:
        return
    print("\n" + "=" * 72)
    print(f"  Team password for this dashboard: {password}")
    print("  Shown this once. Type it in the sidebar to retrain, activate and publish.")
    print(f"  Only its SHA-256 is kept, in {config.secrets_path()} ([kurrant] team_password_sha256);")
    print("  remove that line and run `make run` again for a new one.")
    print("=" * 72 + "\n", flush=True)


def _train_first_runs(engine: sa.Engine) -> None:
    """Start a background retrain of every model when the DE database has no run at all yet.

    The dashboard starts at once; the runs (and their leaderboard metrics) appear when the job is
    done, and its progress shows on the Retrain & runs page.
    """
    from kurrant_core.jobs import JobRefused, RetrainSpec, submit

    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(schema.rec_run)).scalar_one():
            return
        if conn.execute(sa.select(sa.func.count()).select_from(schema.rec_job)).scalar_one():
            return          # a first retrain was already started (or tried): do not start another
    try:
        job_id = submit(engine, RetrainSpec.build("all"), by=access.cli_person())
    except JobRefused as exc:
        print(f"Not starting the first retrain: {exc}")
        return
    print(f"Training every model in the background (job {job_id}); follow it on the "
          "'Retrain & runs' page.")
