"""Engines for the DE database, and the checks pages run before they query."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from kurrant_core import config, schema
from kurrant_core.errors import KurrantError


def make_engine(url: str | None = None, *, must_exist: bool = False, source: str = config.CONFIGURED,
                **kwargs) -> sa.Engine:
    """An engine for ``url`` (default: the configured DE URL) with settings fit for each backend.

    SQLite gets WAL (readers keep reading while preprocess writes) and a busy timeout; MySQL gets
    utf8mb4 and pre-ping so a restarted server does not surface as a stale-connection traceback.
    ``must_exist``: a SQLite file that is not there is a KurrantError naming the path it looked for
    (``source`` says where the URL came from) instead of a new empty database made on the spot. The
    dashboard and every command pass True except those that create a DE database (``init-db``,
    ``demo-data``, ``ensure-demo``); code that creates one on purpose (tests, benches) keeps False.
    """
    url = url or config.de_url()
    parsed = make_url(url)
    config.check_driver(parsed, source)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            path = Path(database)
            if must_exist:
                check_sqlite_file(path, source)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
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


def check_sqlite_file(path: Path, source: str = config.CONFIGURED) -> None:
    """KurrantError unless ``path`` is an existing SQLite file (a typo must not make an empty database)."""
    where = path.absolute()
    if where.is_dir():
        raise KurrantError(f"The DE database path {where} (from {source}) is a folder, not a SQLite file; "
                           "point the URL at the .sqlite file inside it.", key="err.sqlite_folder", path=where)
    if not where.exists():
        raise KurrantError(f"No DE database at {where}: the SQLite file does not exist (URL from {source}). "
                           "Fix the path, or create the database with `python -m kurrant_core init-db` "
                           "(`demo-data`, `ensure-demo` and `make run` create it too).",
                           key="err.sqlite_missing", path=where)


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def begin_atomic(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction whose statements, DDL included, commit together or not at all.

    ``engine.begin()`` is that on MySQL (where DDL commits anyway, so callers keep DDL to atomic
    statements such as RENAME TABLE). On SQLite it is not: Python's sqlite3 opens its implicit
    transaction only before INSERT/UPDATE/DELETE, so a DROP TABLE that comes first commits on its
    own and readers see the table gone. Here SQLite gets an explicit ``BEGIN IMMEDIATE`` instead.
    """
    if not is_sqlite(engine):
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")    # the driver leaves BEGIN to us
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


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
        "running and KURRANT_DE_URL is right (or unset it to use the embedded SQLite demo).",
        key="err.unreachable", url=config.mask_url(engine.url))


def check_ready(engine: sa.Engine) -> None:
    """Raise KurrantError unless the DE database is reachable, initialised and preprocessed."""
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            if schema.mart_order_item.name not in names:
                raise KurrantError(
                    "The DE database has no tables yet. Run `python -m kurrant_core init-db`, then "
                    "`python -m kurrant_core demo-data --scale demo` and "
                    "`python -m kurrant_core preprocess` (or just `make run`).", key="err.no_tables")
            # an existence probe, not COUNT(*): InnoDB counts millions of rows in ~1 s on every page run
            n = conn.execute(sa.select(sa.literal(1)).select_from(schema.mart_order_item).limit(1)).scalar()
            current = marts_current(conn)
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None
    if not n:
        raise KurrantError(
            "The DE database has no preprocessed orders. Run `python -m kurrant_core demo-data "
            "--scale demo` (or `sync --source URL`), then `python -m kurrant_core preprocess`.",
            key="err.not_preprocessed")
    if not current:
        raise KurrantError(
            "The DE database's marts were built by another version of Kurrant Lens. Run "
            "`python -m kurrant_core preprocess` to rebuild them (`make run` does it for the demo database).",
            key="err.marts_outdated")


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
