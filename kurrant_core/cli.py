"""``python -m kurrant_core COMMAND``: every command a scheduler or a person needs.

Each feature keeps its commands in ``kurrant_core/commands/<feature>.py`` with a
``register(subparsers)`` function; this module only assembles them, so features stay independent.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kurrant_core.errors import KurrantError
from kurrant_core.process_memory import return_freed_memory

COMMAND_MODULES = [
    "kurrant_core.commands.database",   # init-db, status
    "kurrant_core.commands.demo",       # demo-data
    "kurrant_core.commands.preprocess",  # preprocess
    "kurrant_core.commands.models",     # train, recommend, publish, export
    "kurrant_core.commands.evaluate",   # evaluate
    "kurrant_core.commands.policy",     # policy list|show|save|choose
    "kurrant_core.commands.ensemble",   # ensemble
    "kurrant_core.commands.jobs",       # retrain, runs, activate, cancel
    "kurrant_core.commands.sync",       # sync
    "kurrant_core.commands.audit",      # audit
    "kurrant_core.commands.auto_order",  # auto-order settings|plan|plans|export|backtest
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kurrant_core", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="DE database URL (default: KURRANT_DE_URL, secrets, SQLite)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:       # feature not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return_freed_memory()            # every command, the retrain worker included
    try:
        return int(args.func(args) or 0)
    except KurrantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
