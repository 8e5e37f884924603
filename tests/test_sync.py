"""Sync production -> DE: allowed columns only, no PII, incremental, resumable, same marts.

Production is the look-alike from ``kurrant_core.sync.production_schema`` (every DE column plus
production's PII), filled from the tiny demo world; production and DE are two databases on the
same backend (two SQLite files, or two databases on the MariaDB server).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import ROOT, TINY_SEED, drop_database, new_database_url
from sqlalchemy.engine import make_url

from kurrant_core import cli, schema
from kurrant_core.db import init_db, make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.sync import TableSpec, select_specs, sync_status, sync_tables
from kurrant_core.sync.log import SYNC_FAILED, SYNC_NEVER, SYNC_OK, SYNC_RUNNING
from kurrant_core.sync.pii import keyed_hash
from kurrant_core.sync.production_schema import (
    PII_COLUMNS,
    PRODUCTION_TABLES,
    copy_into_production,
    fill_production_from_demo,
)
from kurrant_core.sync.source import read_only_source
from kurrant_core.sync.watermark import Watermark

CHUNK = 50
PHONE = re.compile(r"01\d-\d{4}-\d{4}")


# ----------------------------------------------------------------------------------- fixtures
def _backend(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "mysql"


def _production(tiny_url: str, folder) -> tuple[str, sa.Engine]:
    prod_url = new_database_url(_backend(tiny_url), folder)
    prod, tiny = sa.create_engine(prod_url), make_engine(tiny_url)
    copy_into_production(tiny, prod, seed=7)
    tiny.dispose()
    return prod_url, prod


@pytest.fixture(scope="module")
def shared_production(tiny_url, tmp_path_factory):
    """A production look-alike of the tiny world, shared by the tests that only read it."""
    prod_url, prod = _production(tiny_url, tmp_path_factory.mktemp("prod"))
    yield prod_url, prod
    prod.dispose()
    drop_database(prod_url)


@pytest.fixture
def de_database(tiny_url, tmp_path):
    de_url = new_database_url(_backend(tiny_url), tmp_path)
    de = make_engine(de_url)
    init_db(de)
    yield de_url, de
    de.dispose()
    drop_database(de_url)


@pytest.fixture
def world(shared_production, de_database):
    """(production URL, production engine, empty DE URL, DE engine); do not write to production."""
    return (*shared_production, *de_database)


@pytest.fixture
def editable_world(tiny_url, tmp_path, de_database):
    """Like ``world``, with a private production the test may edit."""
    prod_url, prod = _production(tiny_url, tmp_path)
    yield prod_url, prod, *de_database
    prod.dispose()
    drop_database(prod_url)


def _sync(prod_url: str, de: sa.Engine, **kwargs):
    kwargs.setdefault("chunk_size", CHUNK)
    return {r.table_name: r for r in sync_tables(prod_url, de, pause_s=0, **kwargs)}


def _rows(engine: sa.Engine, table: sa.Table, like: sa.Table) -> list[tuple]:
    """``table``'s rows restricted to ``like``'s columns, in key order."""
    columns = [table.c[c.name] for c in like.columns]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(table.c.id))]


def _assert_de_matches_production(prod: sa.Engine, de: sa.Engine) -> None:
    for table in schema.RAW_TABLES:
        assert _rows(de, table, table) == _rows(prod, PRODUCTION_TABLES[table.name], table), table.name


def _count(engine: sa.Engine, table: sa.Table, where=sa.true()) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()


def _latest_log(de: sa.Engine) -> dict[str, sa.Row]:
    status = sync_status(de)
    return {row.table_name: row for row in status.itertuples()}


# ------------------------------------------------------------------------------ pure functions
def test_keyed_hash_is_hmac_sha256():
    # RFC 4231, test case 2
    assert keyed_hash("what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert keyed_hash(None, b"Jefe") is None


def test_watermark_round_trips_through_its_text_form():
    mark = Watermark(datetime(2026, 10, 30, 12, 0, 5, 123000), 42)
    assert Watermark.decode(mark.encode()) == mark
    assert Watermark.decode(Watermark(None, 7).encode()) == Watermark(None, 7)


def test_select_specs_accepts_commas_and_rejects_unknown_tables():
    assert [s.name for s in select_specs(["order__order,food__food"])] == ["food__food", "order__order"]
    with pytest.raises(KurrantError, match="user__secret"):
        select_specs(["food__food", "user__secret"])


def test_production_look_alike_has_pii_the_de_lacks():
    for name, pii in PII_COLUMNS.items():
        production = set(PRODUCTION_TABLES[name].c.keys())
        assert {c.name for c in pii} <= production
        assert not {c.name for c in pii} & set(schema.metadata.tables[name].c.keys())
    assert {"name", "email", "phone", "password", "birth_date", "firebase_token"} <= {
        c.name for c in PII_COLUMNS[schema.user_user.name]}


# ------------------------------------------------------------------------ source connection
def test_source_connection_is_read_only(shared_production):
    prod_url, prod = shared_production
    before = _count(prod, schema.client_group)
    with read_only_source(prod_url, timeout_s=7) as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(PRODUCTION_TABLES[schema.client_group.name].delete())
        conn.rollback()
        if conn.dialect.name != "sqlite":
            assert float(conn.exec_driver_sql("SELECT @@max_statement_time").scalar()) == 7.0
    assert _count(prod, schema.client_group) == before


# ----------------------------------------------------------------------------------- syncing
def test_first_sync_copies_every_allowed_row_and_column(world):
    prod_url, prod, _, de = world
    assert set(sync_status(de).last_sync_status) == {SYNC_NEVER}
    results = _sync(prod_url, de)
    _assert_de_matches_production(prod, de)
    status = _latest_log(de)
    for table in schema.RAW_TABLES:
        n = _count(prod, table)
        assert results[table.name].rows == n and status[table.name].last_sync_rows == n
        assert status[table.name].last_sync_status == SYNC_OK
    assert results[schema.order_item.name].batches > 1            # really walked in chunks
    assert status[schema.order.name].watermark_column == "id"
    assert status[schema.food.name].watermark_column == "updated_date_time,id"


def test_no_pii_is_read_or_lands_in_the_de(world):
    prod_url, prod, _, de = world
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if conn.engine.url.database == make_url(prod_url).database or "mode=ro" in str(conn.engine.url):
            statements.append(statement)
    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        _sync(prod_url, de)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    from kurrant_core.preprocess import preprocess
    preprocess(de)

    raw_names = {t.name for t in schema.RAW_TABLES}
    reads = [(m.group(1), s) for s in (s.replace("`", "").replace('"', "") for s in statements)
             for m in [re.search(r"\bFROM (\w+)", s)] if m and m.group(1) in raw_names]
    assert {table for table, _ in reads} == raw_names
    for table, statement in reads:
        assert statement.lstrip().upper().startswith("SELECT") and "*" not in statement
        for column in PII_COLUMNS.get(table, []):
            assert f"{table}.{column.name}" not in statement

    inspector = sa.inspect(de)
    for name, pii in PII_COLUMNS.items():
        assert not {c.name for c in pii} & {c["name"] for c in inspector.get_columns(name)}

    secrets: set[str] = set()
    with prod.connect() as conn:
        for name, pii in PII_COLUMNS.items():
            table = PRODUCTION_TABLES[name]
            for column in pii:
                if isinstance(column.type, (sa.String, sa.Date)):
                    secrets |= {str(v) for v in conn.execute(sa.select(table.c[column.name])).scalars()}
    assert len(secrets) > 100
    de_text: set[str] = set()
    with de.connect() as conn:
        for name in inspector.get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for column in table.columns:
                if isinstance(column.type, sa.String):
                    de_text |= {v for v in conn.execute(sa.select(column).distinct()).scalars() if v}
    assert de_text, "the DE should hold some text (names of foods, groups, makers)"
    assert not secrets & de_text
    assert not [v for v in de_text if "@example.com" in v or PHONE.search(v)]


def test_second_sync_copies_only_changed_and_new_rows(editable_world):
    prod_url, prod, _, de = editable_world
    _sync(prod_url, de)
    marks = {name: Watermark.decode(row.watermark) for name, row in _latest_log(de).items()}
    food, order, user = (PRODUCTION_TABLES[t.name] for t in (schema.food, schema.order, schema.user_user))
    user_mark = marks[user.name]
    later = max(m.updated for m in marks.values() if m.updated is not None) + timedelta(hours=1)
    with prod.begin() as conn:
        food_ids = conn.execute(sa.select(food.c.id).order_by(food.c.id).limit(3)).scalars().all()
        conn.execute(food.update().where(food.c.id.in_(food_ids))
                     .values(price=food.c.price + 500, updated_date_time=later))
        template = conn.execute(sa.select(order).order_by(order.c.id.desc()).limit(1)).one()._asdict()
        conn.execute(order.insert(), [dict(template, id=template["id"] + k, total_price=1000 * k)
                                      for k in (1, 2)])
        # a user edited within the watermark's own second, with a smaller id than the watermark row
        late_user = conn.execute(sa.select(user.c.id).where(user.c.id < user_mark.key)
                                 .where(user.c.updated_date_time < user_mark.updated)
                                 .order_by(user.c.id).limit(1)).scalar()
        assert late_user is not None
        conn.execute(user.update().where(user.c.id == late_user)
                     .values(e_user_status=9, updated_date_time=user_mark.updated))
    results = _sync(prod_url, de)

    _assert_de_matches_production(prod, de)                # includes the same-second user edit
    status = _latest_log(de)
    assert results[order.name].rows == status[order.name].last_sync_rows == 2
    # what a rerun reads: rows at or after the old watermark's time (its second is read again,
    # upserts make that harmless), or past the old key for tables without an updated time
    for table in schema.RAW_TABLES:
        mark, source = marks[table.name], PRODUCTION_TABLES[table.name]
        since = (source.c.id > mark.key if mark.updated is None
                 else source.c.updated_date_time >= mark.updated)
        assert results[table.name].rows == status[table.name].last_sync_rows == _count(prod, source, since)
    assert results[food.name].rows >= 3 and results[user.name].rows >= 1
    assert sum(r.rows for r in results.values()) < sum(_count(prod, t) for t in schema.RAW_TABLES) // 10


def _first_rows_in_keyset_order(engine: sa.Engine, table: sa.Table, n: int) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(sa.select(table.c.id).order_by(table.c.updated_date_time, table.c.id)
                            .limit(n)).scalars().all()


def test_sync_that_fails_halfway_keeps_committed_batches_and_resumes(world):
    prod_url, prod, _, de = world
    item = schema.order_item
    total = _count(prod, item)
    assert total > 5 * CHUNK

    def fail_on_third_item_batch(table_name: str, batch: int) -> None:
        if table_name == item.name and batch == 3:
            raise RuntimeError("simulated crash")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _sync(prod_url, de, on_batch=fail_on_third_item_batch)

    with de.connect() as conn:
        kept = sorted(conn.execute(sa.select(item.c.id)).scalars())
    assert kept == sorted(_first_rows_in_keyset_order(prod, PRODUCTION_TABLES[item.name], 2 * CHUNK))
    status = _latest_log(de)
    assert status[item.name].last_sync_status == SYNC_FAILED
    assert "simulated crash" in status[item.name].last_sync_error
    assert Watermark.decode(status[item.name].watermark).key == _first_rows_in_keyset_order(
        prod, PRODUCTION_TABLES[item.name], 2 * CHUNK)[-1]
    order_of_tables = [t.name for t in schema.RAW_TABLES]
    for name in order_of_tables[order_of_tables.index(item.name) + 1:]:
        assert status[name].last_sync_status == SYNC_NEVER
        assert _count(de, schema.metadata.tables[name]) == 0

    results = _sync(prod_url, de)
    _assert_de_matches_production(prod, de)
    assert total - 2 * CHUNK <= results[item.name].rows < total            # resumed, not restarted


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from kurrant_core.db import make_engine
    from kurrant_core.sync import sync_tables

    def kill(table_name, batch):
        if table_name == "order__order_item" and batch == 3:
            os.kill(os.getpid(), signal.SIGKILL)     # mid-transaction: batch 3 is not committed
    sync_tables(sys.argv[1], make_engine(sys.argv[2]), chunk_size=int(sys.argv[3]), pause_s=0,
                on_batch=kill)
""")


def test_sync_killed_with_sigkill_then_rerun_by_cli_ends_with_exact_rows(world):
    prod_url, prod, de_url, de = world
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, prod_url, de_url, str(CHUNK)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _count(de, schema.order_item) == 2 * CHUNK
    assert _latest_log(de)[schema.order_item.name].last_sync_status == SYNC_RUNNING

    rerun = subprocess.run([sys.executable, "-m", "kurrant_core", "--url", de_url, "sync",
                            "--source", prod_url, "--chunk-size", str(CHUNK), "--pause", "0",
                            "--no-preprocess"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "order__order_item" in rerun.stdout
    _assert_de_matches_production(prod, de)
    assert set(sync_status(de).last_sync_status) == {SYNC_OK}


def test_full_sync_picks_up_edits_in_tables_without_updated_time(editable_world, capsys):
    prod_url, prod, de_url, de = editable_world
    _sync(prod_url, de)
    group = PRODUCTION_TABLES[schema.client_group.name]
    with prod.begin() as conn:
        conn.execute(group.update().values(is_active=False))
    assert _sync(prod_url, de)[group.name].rows == 0                       # key watermark: no news
    assert _count(de, schema.client_group, schema.client_group.c.is_active) > 0
    assert _sync(prod_url, de, full=True)[group.name].rows == _count(prod, group)
    _assert_de_matches_production(prod, de)
    assert cli.main(["--url", de_url, "sync-status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if group.name in line)
    assert SYNC_OK in line.split() and str(_count(prod, group)) in line.split()


# --------------------------------------------------------------------------------- hashing
def _hashed_users_spec() -> TableSpec:
    table = sa.Table(schema.user_user.name, sa.MetaData(),
                     sa.Column("id", schema.Id, primary_key=True, autoincrement=False),
                     sa.Column("e_user_status", sa.SmallInteger, nullable=False),
                     sa.Column("email_hash", sa.String(64)),
                     sa.Column("updated_date_time", sa.DateTime, nullable=False))
    return TableSpec(table, hashed={"email_hash": "email"})


def test_hashed_identifier_needs_a_key_and_stores_only_its_hmac(shared_production, tmp_path, monkeypatch):
    prod_url, prod = shared_production
    de_url = new_database_url(_backend(prod_url), tmp_path)
    de = make_engine(de_url)
    spec = _hashed_users_spec()
    for table in (schema.sync_log, schema.sync_watermark, spec.table):
        table.create(de)
    try:
        monkeypatch.setenv("KURRANT_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
        monkeypatch.delenv("KURRANT_SYNC_HASH_KEY", raising=False)
        with pytest.raises(KurrantError, match="KURRANT_SYNC_HASH_KEY"):
            _sync(prod_url, de, specs=[spec])
        assert _count(de, schema.sync_log) == 0                            # refused before any work

        monkeypatch.setenv("KURRANT_SYNC_HASH_KEY", "test-key")
        _sync(prod_url, de, specs=[spec])
        user = PRODUCTION_TABLES[schema.user_user.name]
        with prod.connect() as conn:
            emails = dict(conn.execute(sa.select(user.c.id, user.c.email)).all())
        with de.connect() as conn:
            hashes = dict(conn.execute(sa.select(spec.table.c.id, spec.table.c.email_hash)).all())
        assert hashes.keys() == emails.keys()
        for user_id, email in emails.items():
            assert hashes[user_id] == hmac.new(b"test-key", email.encode(), hashlib.sha256).hexdigest()
    finally:
        de.dispose()
        drop_database(de_url)


# --------------------------------------------------------------------------------- the marts
def test_synced_production_gives_the_same_marts_as_the_demo_world(tiny_url, tmp_path):
    backend = _backend(tiny_url)
    prod_url, de_url = new_database_url(backend, tmp_path), new_database_url(backend, tmp_path)
    prod, de, direct = sa.create_engine(prod_url), make_engine(de_url), make_engine(tiny_url)
    try:
        fill_production_from_demo(prod, scale="tiny", seed=TINY_SEED)
        assert cli.main(["--url", de_url, "init-db"]) == 0      # sync refuses to create a DE database
        assert cli.main(["--url", de_url, "sync", "--source", prod_url, "--pause", "0"]) == 0
        for mart in schema.MART_TABLES:
            key = list(mart.primary_key.columns)[0]
            with direct.connect() as a, de.connect() as b:
                expected = a.execute(sa.select(mart).order_by(key)).all()
                got = b.execute(sa.select(mart).order_by(key)).all()
            assert len(got) == len(expected) > 0, mart.name
            assert got == expected, mart.name
    finally:
        for engine in (prod, de, direct):
            engine.dispose()
        drop_database(prod_url)
        drop_database(de_url)


def test_cli_without_source_says_how_to_set_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("KURRANT_SYNC_SOURCE_URL", raising=False)
    assert cli.main(["--url", f"sqlite:///{tmp_path / 'de.sqlite'}", "sync"]) == 2
    assert "KURRANT_SYNC_SOURCE_URL" in capsys.readouterr().err
