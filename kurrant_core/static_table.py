"""Small tables as Markdown text, for pages that show a few rows without a data grid.

A data grid (``st.dataframe``) costs the browser about three times what the same rows cost as a
Markdown table (a canvas, its toolbar and its measuring, ~0.17 s of renderer CPU each on the
development machine against ~0.05 s); a page that shows several short, read-only tables draws them
this way. Cells are escaped, so a food named ``*반값* | 특가`` shows as typed.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

_SPECIAL = re.compile(r"([\\|*_`\[\]<>$~:])")
"""Characters Markdown (and Streamlit's math, emoji and icon shortcodes) would read as markup."""


def escape(value: object) -> str:
    """A cell's text with markup characters escaped and line breaks as spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def unescape(cell: str) -> str:
    """The text a reader sees in an escaped cell (the inverse of :func:`escape` on one-line text)."""
    return re.sub(r"\\(.)", r"\1", cell)


def to_markdown(frame: pd.DataFrame, headers: Mapping[str, str] | None = None,
                formats: Mapping[str, Callable[[object], str]] | None = None,
                columns: Sequence[str] | None = None) -> str:
    """``frame`` as a GitHub-flavoured Markdown table.

    ``headers`` renames columns (missing ones keep their name), ``formats`` turns a column's values
    into text (else ``str``), ``columns`` picks and orders them (else all). Numeric columns are
    right-aligned. An empty frame gives the header row alone.
    """
    headers, formats = dict(headers or {}), dict(formats or {})
    names = list(columns) if columns is not None else list(frame.columns)
    head = "| " + " | ".join(escape(headers.get(name, name)) for name in names) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[name]) and
                          not pd.api.types.is_bool_dtype(frame[name]) else "---" for name in names) + "|"
    cells = [[escape(formats.get(name, str)(value)) for value in frame[name].tolist()] for name in names]
    rows = ["| " + " | ".join(row) + " |" for row in zip(*cells)] if names else []
    return "\n".join([head, rule, *rows])


def from_markdown(text: str) -> list[list[str]]:
    """The rows of a table :func:`to_markdown` wrote (header row first), unescaped: for tests and
    checks that read what a page showed."""
    rows = []
    for line in text.strip().splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        rows.append([unescape(cell.strip()) for cell in cells])
    return rows
