"""``sync`` (production -> DE raw mirror, then preprocess) and ``sync-status``."""
from __future__ import annotations

import argparse
import time

from kurrant_core import config
from kurrant_core.commands import engine_from
from kurrant_core.db import init_db
from kurrant_core.errors import KurrantError
from kurrant_core.raw_changes import forget_raw_state
from kurrant_core.sync import select_specs, sync_status, sync_tables
from kurrant_core.sync.copier import DEFAULT_CHUNK_SIZE, DEFAULT_PAUSE_S, DEFAULT_TIMEOUT_S

SOURCE_URL_SETTING = "sync_source_url"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="copy production tables (allowed columns only) into the DE raw mirror")
    p.add_argument("--source", help="production / read-replica URL (default: KURRANT_SYNC_SOURCE_URL or "
                                    "sync_source_url in secrets; keeps the password off the command line)")
    p.add_argument("--tables", nargs="+", metavar="TABLE", help="tables to sync (space- or comma-separated; "
                                                                "default: every raw mirror table)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help="rows per read (default %(default)s)")
    p.add_argument("--pause", type=float, default=DEFAULT_PAUSE_S,
                   help="seconds to rest between reads, to spare production (default %(default)s)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help="server-side limit per read query, seconds (default %(default)s)")
    p.add_argument("--full", action="store_true",
                   help="ignore watermarks and re-read whole tables (picks up in-place edits everywhere)")
    p.add_argument("--no-preprocess", action="store_true", help="do not rebuild the marts afterwards")
    p.set_defaults(func=_sync)
    p = sub.add_parser("sync-status", help="print each raw table's watermark and latest sync")
    p.set_defaults(func=_status)


def _source_url(args: argparse.Namespace) -> str:
    url = args.source or config.setting(SOURCE_URL_SETTING)
    if not url:
        raise KurrantError("No source to sync from. Pass --source URL or set KURRANT_SYNC_SOURCE_URL "
                           "(e.g. mysql+pymysql://reader:***@replica:3306/kurrant).")
    return url


def _sync(args: argparse.Namespace) -> int:
    if args.chunk_size < 1:
        raise KurrantError("--chunk-size must be at least 1.")
    source = _source_url(args)
    specs = select_specs(args.tables)
    engine = engine_from(args)
    init_db(engine)
    print(f"sync {config.mask_url(source)} -> {config.mask_url(engine.url)} ({len(specs)} tables)",
          flush=True)
    t0 = time.perf_counter()
    results = sync_tables(source, engine, specs, chunk_size=args.chunk_size, pause_s=args.pause,
                          timeout_s=args.timeout, full=args.full)
    for r in results:
        print(f"  {r.table_name:<36} {r.rows:>10,} rows {r.seconds:>8.2f} s  watermark {r.watermark or '-'}")
    print(f"sync done: {sum(r.rows for r in results):,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.full:   # whole tables re-read: rows rewritten in place where no updated time shows it
        with engine.begin() as conn:
            forget_raw_state(conn)          # so the next preprocess rebuilds every mart
    if not args.no_preprocess:
        from kurrant_core.preprocess import preprocess
        counts = preprocess(engine)
        print("preprocess done: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    return 0


def _status(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    init_db(engine)
    print(sync_status(engine).to_string(index=False))
    return 0
