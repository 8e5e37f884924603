"""CLI commands, one module per feature; see ``kurrant_core.cli``."""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from kurrant_core.db import make_engine


def engine_from(args: argparse.Namespace) -> sa.Engine:
    """The DE engine for a command: ``--url`` if given, else the configured DE URL."""
    return make_engine(getattr(args, "url", None))
