"""Bulk-write generated columns into the DE tables, on SQLite and MySQL/MariaDB alike.

Columns are numpy arrays (or lists) keyed by the table's column names and checked against the
SQLAlchemy table. Rows go in one transaction per table:

- MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` from a temporary tab-separated file, about three times
  faster than multi-row INSERTs for the millions of rows of the large world; when the server or
  driver refuses local files it falls back to the INSERT path.
- everywhere else: the table's compiled INSERT, run with the driver's executemany on values that the
  column types' own bind processors prepared (so SQLite stores dates exactly as SQLAlchemy would),
  in chunks. Skipping SQLAlchemy's per-row parameter handling halves the load time.
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
LOAD_DATA_CHUNK_ROWS = 500_000
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
    """Empty ``tables`` and load the given columns into them; returns rows per table name."""
    clear_tables(engine, list(tables))
    loader = _local_infile_engine(engine) if _is_mysql(engine) else None
    counts = {}
    try:
        for table, columns in tables.items():
            counts[table.name] = insert_columns(engine, table, columns, loader=loader)
            log.debug("wrote %s rows to %s", counts[table.name], table.name)
    finally:
        if loader is not None:
            loader.dispose()
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


def insert_columns(engine: sa.Engine, table: sa.Table, columns: Columns, loader: sa.Engine | None = None) -> int:
    """Insert ``columns`` into ``table`` in one transaction; returns the row count.

    ``loader`` is an engine allowed to send local files (MySQL only); without one, or when the
    server refuses local files, rows go in with INSERT.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    if not n:
        return 0
    if loader is not None:
        try:
            _load_data_local(loader, table, columns)
            return n
        except sa.exc.DBAPIError as exc:
            log.info("LOAD DATA LOCAL INFILE refused (%s); using INSERT instead", exc.orig)
    _executemany(engine, table, columns)
    return n


def _local_infile_engine(engine: sa.Engine) -> sa.Engine:
    """A second engine on the same MySQL database whose connections may send local files."""
    return sa.create_engine(engine.url, connect_args={"local_infile": True}, poolclass=NullPool)


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
    prepared = []
    for name in names:
        values = _python_values(columns[name])
        process = table.c[name].type.bind_processor(engine.dialect)
        prepared.append(list(map(process, values)) if process else values)
    compiled = table.insert().compile(dialect=engine.dialect, column_keys=names)
    if engine.dialect.positional:       # the compiled statement lists columns in table order
        order = [names.index(key) for key in compiled.positiontup]
        prepared = [prepared[i] for i in order]
    rows = list(zip(*prepared))
    with engine.begin() as conn:
        for lo in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[lo:lo + CHUNK_ROWS]
            conn.exec_driver_sql(compiled.string, chunk if engine.dialect.positional
                                 else [dict(zip(names, row)) for row in chunk])


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


def _load_data_local(loader: sa.Engine, table: sa.Table, columns: Columns) -> None:
    names = list(columns)
    text_columns = [_tsv_values(columns[name]) for name in names]
    quote = loader.dialect.identifier_preparer.quote
    sql = (f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(table.name)} CHARACTER SET utf8mb4 "
           f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
           f"({', '.join(quote(n) for n in names)})")
    n = len(text_columns[0])
    with loader.begin() as conn:
        for lo in range(0, n, LOAD_DATA_CHUNK_ROWS):
            fd, path = tempfile.mkstemp(suffix=".tsv", prefix=f"{table.name}_")
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    for row in zip(*(c[lo:lo + LOAD_DATA_CHUNK_ROWS] for c in text_columns)):
                        fh.write("\t".join(row))
                        fh.write("\n")
                conn.exec_driver_sql(sql, (path,))
            finally:
                os.unlink(path)
