"""Bulk-write generated columns into the DE tables, on SQLite and MySQL/MariaDB alike.

Columns are numpy arrays (or lists) keyed by the table's column names and checked against the
SQLAlchemy table before anything is written.

- MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` from temporary tab-separated files, all tables in one
  transaction; about three times faster than multi-row INSERTs for the millions of rows of the
  large world. When the server or driver refuses local files it falls back to INSERT.
- everywhere else (and as the fallback): the table's compiled INSERT, run with the driver's
  executemany on values prepared by the column types' own bind processors (so SQLite stores dates
  exactly as SQLAlchemy would), one transaction per table. Skipping SQLAlchemy's per-row parameter
  handling halves the load time.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
LOAD_DATA_CHUNK_ROWS = 200_000
TRUNCATE_ABOVE_ROWS = 50_000

Columns = dict[str, Sequence]


def table_columns(table: sa.Table, **columns: Sequence) -> Columns:
    """``columns`` checked against ``table``: known names, every required column, equal lengths.

    Catching a typo here beats a NOT NULL error from the database halfway through a large load.
    """
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    missing = [c.name for c in table.columns if not c.nullable and c.name not in columns]
    if missing:
        raise ValueError(f"{table.name} needs column(s) {missing}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{table.name}: columns of different lengths {lengths}")
    return columns


def replace_tables(engine: sa.Engine, tables: dict[sa.Table, Columns]) -> dict[str, int]:
    """Empty ``tables`` and load the given columns into them; returns rows per table name.

    On MySQL every LOAD DATA runs in one transaction on one connection (one commit, not one per
    table); if the server refuses local files, the rest goes in with INSERT.
    """
    clear_tables(engine, list(tables))
    counts: dict[str, int] = {}
    pending = dict(tables)
    if _is_mysql(engine):
        loader = sa.create_engine(engine.url, connect_args={"local_infile": True}, poolclass=NullPool)
        try:
            with loader.begin() as conn:
                # no unique/foreign-key checks: MariaDB then bulk-loads empty tables without undo logs
                conn.exec_driver_sql("SET SESSION unique_checks = 0, foreign_key_checks = 0")
                for table, columns in tables.items():
                    counts[table.name] = _load_data_local(conn, table, columns)
                    del pending[table]
        except sa.exc.DBAPIError as exc:
            log.info("LOAD DATA LOCAL INFILE refused (%s); using INSERT instead", exc.orig)
            clear_tables(engine, list(tables))
            pending = dict(tables)
        finally:
            loader.dispose()
    for table, columns in pending.items():
        counts[table.name] = insert_columns(engine, table, columns)
    return counts


def clear_tables(engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
    """Delete every row of ``tables``; big MySQL tables are truncated, which is much faster there."""
    with engine.begin() as conn:
        for table in tables:
            big = _is_mysql(engine) and conn.execute(
                sa.select(sa.func.count()).select_from(table)).scalar() > TRUNCATE_ABOVE_ROWS
            if big:
                conn.exec_driver_sql(f"TRUNCATE TABLE {engine.dialect.identifier_preparer.quote(table.name)}")
            else:
                conn.execute(table.delete())


def insert_columns(engine: sa.Engine, table: sa.Table, columns: Columns) -> int:
    """Insert ``columns`` into ``table`` with executemany, in one transaction; returns the row count."""
    n = len(next(iter(columns.values()))) if columns else 0
    if n:
        _executemany(engine, table, columns)
    return n


def _is_mysql(engine: sa.Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def _python_values(values: Sequence) -> list:
    """Plain Python values for the DB driver (dates, datetimes, ints, None for NaT/NaN)."""
    if not isinstance(values, np.ndarray):
        return list(values)
    if values.dtype.kind == "M":
        unit = "datetime64[D]" if values.dtype == np.dtype("datetime64[D]") else "datetime64[us]"
        return values.astype(unit).tolist()
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]
    return values.tolist()


def _executemany(engine: sa.Engine, table: sa.Table, columns: Columns) -> None:
    names = list(columns)
    compiled = table.insert().compile(dialect=engine.dialect, column_keys=names)
    if engine.dialect.positional:       # the compiled statement lists columns in table order
        names = list(compiled.positiontup)
    processors = [table.c[name].type.bind_processor(engine.dialect) for name in names]
    n = len(columns[names[0]])
    with engine.begin() as conn:
        for lo in range(0, n, CHUNK_ROWS):
            prepared = []
            for name, process in zip(names, processors):
                values = _python_values(columns[name][lo:lo + CHUNK_ROWS])
                prepared.append(list(map(process, values)) if process else values)
            rows = list(zip(*prepared))
            conn.exec_driver_sql(compiled.string, rows if engine.dialect.positional
                                 else [dict(zip(names, row)) for row in rows])


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TSV_NULL = "\\N"


def _tsv_values(values: Sequence) -> list[str]:
    """One column as LOAD DATA text: ISO dates, 1/0 booleans, ``\\N`` for missing values."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "M":
            unit = "D" if values.dtype == np.dtype("datetime64[D]") else "s"
            text = np.char.replace(np.datetime_as_string(values, unit=unit), "T", " ")
            return np.where(np.isnat(values), _TSV_NULL, text).tolist()
        if values.dtype.kind == "b":
            return values.astype(np.int8).astype(str).tolist()
        if values.dtype.kind == "f":
            return np.where(np.isnan(values), _TSV_NULL, values.astype(str)).tolist()
        if values.dtype.kind in "iu":
            return values.astype(str).tolist()
    return [_TSV_NULL if v is None else str(v).translate(_TSV_ESCAPES) for v in values]


def _load_data_local(conn: sa.Connection, table: sa.Table, columns: Columns) -> int:
    """LOAD DATA LOCAL INFILE ``columns`` into ``table`` through temporary files; returns the row count."""
    names = list(columns)
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(table.name)} CHARACTER SET utf8mb4 "
           f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
           f"({', '.join(quote(n) for n in names)})")
    n = len(columns[names[0]])
    for lo in range(0, n, LOAD_DATA_CHUNK_ROWS):
        text_columns = [_tsv_values(columns[name][lo:lo + LOAD_DATA_CHUNK_ROWS]) for name in names]
        fd, path = tempfile.mkstemp(suffix=".tsv", prefix=f"{table.name}_")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.writelines("\t".join(row) + "\n" for row in zip(*text_columns))
            conn.exec_driver_sql(sql, (path,))
        finally:
            os.unlink(path)
    return n
