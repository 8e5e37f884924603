"""Bulk-write generated columns into the DE tables, on SQLite and MySQL/MariaDB alike.

Columns are numpy arrays (or lists) keyed by the table's column names; they are checked against the
SQLAlchemy table, converted to plain Python values once, and inserted in chunks with executemany
(which PyMySQL turns into multi-row INSERTs), one transaction per table.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

CHUNK_ROWS = 10_000

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


def clear_tables(engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
    """Delete every row of ``tables`` (TRUNCATE on MySQL, which is much faster for big tables)."""
    with engine.begin() as conn:
        for table in tables:
            if engine.dialect.name == "sqlite":
                conn.execute(table.delete())
            else:
                conn.exec_driver_sql(f"TRUNCATE TABLE {engine.dialect.identifier_preparer.quote(table.name)}")


def insert_columns(engine: sa.Engine, table: sa.Table, columns: Columns, chunk_rows: int = CHUNK_ROWS) -> int:
    """Insert ``columns`` into ``table`` in chunks inside one transaction; returns the row count."""
    names = list(columns)
    values = [_python_values(columns[name]) for name in names]
    n = len(values[0]) if values else 0
    with engine.begin() as conn:
        for lo in range(0, n, chunk_rows):
            chunk = zip(*(v[lo:lo + chunk_rows] for v in values))
            conn.execute(table.insert(), [dict(zip(names, row)) for row in chunk])
    return n
