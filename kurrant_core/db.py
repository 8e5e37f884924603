"""Engines for the DE database, and the checks pages run before they query."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from kurrant_core import config, schema
from kurrant_core.errors import KurrantError


def make_engine(url: str | None = None, **kwargs) -> sa.Engine:
    """An engine for ``url`` (default: the configured DE URL) with settings fit for each backend.

    SQLite gets WAL (readers keep reading while preprocess writes) and a busy timeout; MySQL gets
    utf8mb4 and pre-ping so a restarted server does not surface as a stale-connection traceback.
    """
    url = url or config.de_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
        return engine
    query = dict(parsed.query)
    query.setdefault("charset", "utf8mb4")
    return sa.create_engine(parsed.set(query=query), pool_pre_ping=True, pool_recycle=3600, **kwargs)


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def init_db(engine: sa.Engine) -> None:
    """Create every DE table that is missing (idempotent)."""
    try:
        schema.create_all(engine)
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None


def unreachable(engine: sa.Engine, exc: Exception | None = None) -> KurrantError:
    """The error to raise when the DE database cannot be reached, with what to do about it."""
    return KurrantError(
        f"Cannot reach the DE database at {config.mask_url(engine.url)}. Check that the server is "
        "running and KURRANT_DE_URL is right (or unset it to use the embedded SQLite demo).")


def check_ready(engine: sa.Engine) -> None:
    """Raise KurrantError unless the DE database is reachable, initialised and preprocessed."""
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            if schema.mart_order_item.name not in names:
                raise KurrantError(
                    "The DE database has no tables yet. Run `python -m kurrant_core init-db`, then "
                    "`python -m kurrant_core demo-data --scale demo` and "
                    "`python -m kurrant_core preprocess` (or just `make run`).")
            # an existence probe, not COUNT(*): InnoDB counts millions of rows in ~1 s on every page run
            n = conn.execute(sa.select(sa.literal(1)).select_from(schema.mart_order_item).limit(1)).scalar()
            current = marts_current(conn)
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None
    if not n:
        raise KurrantError(
            "The DE database has no preprocessed orders. Run `python -m kurrant_core demo-data "
            "--scale demo` (or `sync --source URL`), then `python -m kurrant_core preprocess`.")
    if not current:
        raise KurrantError(
            "The DE database's marts were built by another version of Kurrant Lens. Run "
            "`python -m kurrant_core preprocess` to rebuild them (`make run` does it for the demo database).")


def read_meta(engine: sa.Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return _meta(conn, key)


def _meta(conn: sa.Connection, key: str) -> str | None:
    return conn.execute(sa.select(schema.de_meta.c.value).where(schema.de_meta.c.key == key)).scalar()


def marts_current(conn: sa.Connection) -> bool:
    """Whether this version built the marts: their stored layout stamp is :func:`schema.mart_layout`."""
    return _meta(conn, schema.META_MART_LAYOUT) == schema.mart_layout()


def write_meta(conn: sa.Connection, key: str, value: str) -> None:
    """Upsert one ``de_meta`` row inside the caller's transaction."""
    from datetime import datetime
    t = schema.de_meta
    now = datetime.now().replace(microsecond=0)
    updated = conn.execute(t.update().where(t.c.key == key).values(value=value, updated_at=now)).rowcount
    if not updated:
        conn.execute(t.insert().values(key=key, value=value, updated_at=now))


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, chunk: int = 10_000) -> None:
    """Insert a frame's rows in chunked executemany calls (missing values as NULL)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for start in range(0, len(records), chunk):
        conn.execute(table.insert(), records[start:start + chunk])
