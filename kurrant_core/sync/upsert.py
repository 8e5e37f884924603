"""Insert-or-update many rows at once on SQLite and MySQL/MariaDB, so a rerun never duplicates."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from kurrant_core.errors import KurrantError


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` into ``table``; rows whose primary key exists replace every other column."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in keys]
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt = sqlite.insert(table)
        stmt = (stmt.on_conflict_do_update(index_elements=keys, set_={n: stmt.excluded[n] for n in others})
                if others else stmt.on_conflict_do_nothing(index_elements=keys))
    elif dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        stmt = stmt.on_duplicate_key_update({n: stmt.inserted[n] for n in (others or keys)})
    else:
        raise KurrantError(f"The DE database must be SQLite or MySQL/MariaDB, not {dialect!r}.")
    conn.execute(stmt, rows)
