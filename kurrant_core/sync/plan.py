"""What the sync copies: one ``TableSpec`` per DE raw mirror table, and how to pick some by name.

The DE table *is* the allow-list: the copier selects exactly its columns from the production table
of the same name (never ``SELECT *``), so a PII column that the DE schema lacks is never read.
Hashed columns are the one exception to "same name": they read a different production column and
store its keyed hash (see ``kurrant_core.sync.pii``). The current mirror hashes nothing; a column
such as ``user__user.email_hash`` would be declared as ``TableSpec(table, hashed={"email_hash":
"email"})`` after adding it to ``kurrant_core.schema``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import sqlalchemy as sa

from kurrant_core import schema
from kurrant_core.errors import KurrantError

UPDATED_COLUMN = "updated_date_time"
"""Production's audit column; tables that keep it sync incrementally by it, the rest by primary key."""


@dataclass(frozen=True)
class TableSpec:
    """How one DE raw mirror table is filled from production."""

    table: sa.Table
    hashed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """DE column -> production column whose HMAC-SHA256 the DE column stores."""

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> sa.Column:
        """The single-column primary key that keyset pagination walks."""
        (column,) = self.table.primary_key.columns
        return column

    @property
    def updated(self) -> sa.Column | None:
        """The updated-time column when the table keeps one (then the watermark is (updated, key))."""
        return self.table.c.get(UPDATED_COLUMN)

    @property
    def watermark_column(self) -> str:
        """The watermark's column names as ``sync_watermark.column_name`` records them."""
        return f"{self.updated.name},{self.key.name}" if self.updated is not None else self.key.name

    @cached_property
    def source(self) -> sa.TableClause:
        """The production table, reduced to the columns this spec reads, typed like the DE columns.

        Typing the source columns with the DE types makes every driver return Python values
        (dates, booleans) the DE insert accepts, whatever the source backend stores.
        """
        copied = [sa.column(c.name, c.type) for c in self.table.columns if c.name not in self.hashed]
        hashed = [sa.column(source, sa.String()) for source in self.hashed.values()]
        return sa.table(self.name, *copied, *hashed)

    @property
    def keyset(self) -> list[sa.ColumnClause]:
        """The production columns that order the reads: (updated, key) or just key."""
        names = [self.key.name] if self.updated is None else [self.updated.name, self.key.name]
        return [self.source.c[name] for name in names]

    def select_columns(self) -> list[sa.ColumnElement]:
        """The explicit SELECT list: kept columns by name, hashed ones labelled with their DE name."""
        return [self.source.c[self.hashed[c.name]].label(c.name) if c.name in self.hashed
                else self.source.c[c.name] for c in self.table.columns]


SYNC_SPECS: list[TableSpec] = [TableSpec(table) for table in schema.RAW_TABLES]


def select_specs(names: Iterable[str] | None, specs: list[TableSpec] = SYNC_SPECS) -> list[TableSpec]:
    """The specs for ``names`` (all when None), in sync order; unknown names raise KurrantError."""
    if not names:
        return list(specs)
    wanted = {n.strip() for name in names for n in name.split(",") if n.strip()}
    known = {spec.name for spec in specs}
    unknown = sorted(wanted - known)
    if unknown:
        raise KurrantError(f"Unknown table(s) to sync: {', '.join(unknown)}. Choose from: "
                           f"{', '.join(sorted(known))}.")
    return [spec for spec in specs if spec.name in wanted]
