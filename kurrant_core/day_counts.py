"""Day-count strings: how many items a user had on each day, one character per day.

``mart_user_days`` and ``mart_user_activity`` keep, per row, a string whose character ``i`` stands
for ``first_day + i`` days: its code minus ``ord('0')`` is that day's item count, so ``'0'`` is a
day without items, ``'1'``..``'9'`` are 1..9 items and ``':'``, ``';'``, ... go on up to ``'~'`` =
:data:`MAX_COUNT`. A string ends at its row's last day with items.

Any date range of a row is then a ``SUBSTR``, and the two questions the order EDA page asks of it
are plain string functions that SQLite and MySQL share:

- did the user have items then? - something other than ``'0'`` is left after ``REPLACE(s, '0', '')``;
- how many? - ``LENGTH(s) - LENGTH(REPLACE(s, c, ''))`` counts the days with count ``c``, so the
  total is the sum of ``v`` times that over v = 1 .. the table's peak day count (a handful of terms).

One short row per user replaces a ``COUNT(DISTINCT user)`` or ``GROUP BY user`` over every item row
of the range, ~10x fewer rows. A day with more than :data:`MAX_COUNT` items is stored as
:data:`MAX_COUNT`; the true peak is kept beside the string, and a sum over a table whose peak is
above :data:`MAX_COUNT` must be taken from the items instead (:func:`exact_up_to`).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import sqlalchemy as sa

ZERO = ord("0")
MAX_COUNT = ord("~") - ZERO
"""The largest day count a character holds (78): printable ASCII from '0' to '~'."""


def encode(days: list[np.ndarray], counts: list[np.ndarray], width: int) -> list[str]:
    """One string per row: ``counts[r][j]`` items on day ``days[r][j]`` (offsets from the first
    day, each below ``width``); a string ends at its last non-zero day, so a row rebuilt alone
    equals the same row of a full rebuild."""
    matrix = np.full((len(days), width), ZERO, dtype=np.uint8)
    owner = np.repeat(np.arange(len(days)), [len(d) for d in days])
    if owner.size:
        matrix[owner, np.concatenate(days)] = ZERO + np.minimum(np.concatenate(counts), MAX_COUNT)
    return [text.rstrip("0") for text in matrix.view(f"S{width}").ravel().astype(str).tolist()]


def decode(text: str) -> np.ndarray:
    """The day counts of a string (capped at :data:`MAX_COUNT`), for tests and debugging."""
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ZERO


def window(column: sa.ColumnElement, first_day: date, start: date, end: date) -> sa.ColumnElement | None:
    """The characters of ``start .. end`` (clipped to the first day); None when that is empty."""
    a, b = max((start - first_day).days, 0), (end - first_day).days
    if b < a:
        return None
    return sa.func.substr(column, a + 1, b - a + 1)


def has_items(days: sa.ColumnElement | None) -> sa.ColumnElement[bool]:
    """The window ``days`` (from :func:`window`) holds a day with items."""
    if days is None:
        return sa.false()
    return sa.func.replace(days, "0", "") != ""


def item_total(days: sa.ColumnElement | None, peak: int) -> sa.ColumnElement:
    """Items in the window ``days``, exact when no day of the table exceeds ``peak`` (<= MAX_COUNT)."""
    if days is None or peak <= 0:
        return sa.literal(0, sa.Integer)
    if peak > MAX_COUNT:
        raise ValueError(f"a day-count string holds at most {MAX_COUNT} items a day, not {peak}")
    length = sa.func.length(days)
    terms = [(length - sa.func.length(sa.func.replace(days, chr(ZERO + v), ""))) * v for v in range(1, peak + 1)]
    return sum(terms[1:], terms[0])


def exact_up_to(peak: int | None) -> bool:
    """Whether :func:`item_total` can sum a table whose largest day count is ``peak``."""
    return peak is not None and peak <= MAX_COUNT
