"""One read-only, time-limited connection to production (or a read replica).

Read-only is enforced by the server, not just by our good manners: MySQL/MariaDB sessions are set
``READ ONLY`` and SQLite files are opened with ``mode=ro``. Every statement is capped by a server
side time limit and a client read timeout, so a slow query is cancelled rather than left running.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kurrant_core import config
from kurrant_core.errors import KurrantError


def _sqlite_read_only_url(url: sa.URL) -> sa.URL:
    database = url.database
    if not database or database == ":memory:" or not Path(database).exists():
        raise KurrantError(f"The source SQLite file {database!r} does not exist; check --source.")
    return sa.URL.create("sqlite", database=f"file:{Path(database).resolve()}",
                         query={"mode": "ro", "uri": "true"})


def _limit_mysql_session(conn: sa.Connection, timeout_s: float) -> None:
    conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    version = conn.exec_driver_sql("SELECT VERSION()").scalar() or ""
    if "mariadb" in version.lower():
        conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(timeout_s)}")
    else:
        conn.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {int(timeout_s * 1000)}")
    conn.commit()


@contextmanager
def read_only_source(url: str, timeout_s: float = 300.0) -> Iterator[sa.Connection]:
    """A single read-only connection to ``url``, closed on exit."""
    try:
        parsed = make_url(url)
    except Exception:
        raise KurrantError("The source URL is malformed; pass e.g. --source "
                           "mysql+pymysql://reader:***@replica:3306/kurrant.") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(_sqlite_read_only_url(parsed), poolclass=NullPool)
    elif backend in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        engine = sa.create_engine(parsed.set(query=query), poolclass=NullPool,
                                  connect_args={"read_timeout": max(1, int(timeout_s) + 5)})
    else:
        raise KurrantError(f"The source must be MySQL/MariaDB or SQLite, not {backend!r}.")
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise KurrantError(f"Cannot connect to the source at {config.mask_url(url)} "
                           f"({type(exc.orig).__name__}); check --source and that the server is up."
                           ) from None
    try:
        if backend != "sqlite":
            _limit_mysql_session(conn, timeout_s)
        yield conn
    finally:
        conn.close()
        engine.dispose()
