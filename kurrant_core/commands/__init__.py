"""CLI commands, one module per feature; see ``kurrant_core.cli``."""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from kurrant_core import config
from kurrant_core.db import make_engine


def engine_from(args: argparse.Namespace) -> sa.Engine:
    """The DE engine for a command: ``--url`` if given, else the configured DE URL, both checked the
    same way. Only commands registered with ``creates_database=True`` may create a SQLite file."""
    url = getattr(args, "url", None)
    source = "--url" if url else config.CONFIGURED
    url = config.check_de_url(url, source) if url else config.de_url()
    return make_engine(url, must_exist=not getattr(args, "creates_database", False), source=source)
