"""Date bucketing that compiles to each backend's own functions (SQLite and MySQL/MariaDB), for the marts' SQL.

SQLite keeps dates as ISO text and has ``date()``/``strftime()``/``julianday()``; MySQL has
``WEEKDAY()``/``DATE_SUB()``/``DATEDIFF()``. One construct per idea, compiled per dialect, keeps
every EDA query a single SQLAlchemy Core statement that runs unchanged on both.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class week_start(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """The Monday that starts the ISO week of a date, as a DATE."""

    type = sa.Date()
    name = "week_start"
    inherit_cache = True


class weekday(FunctionElement):  # noqa: N801
    """Day of the week as an integer, Monday = 0 .. Sunday = 6 (Python's ``date.weekday()``)."""

    type = sa.Integer()
    name = "weekday"
    inherit_cache = True


class days_between(FunctionElement):  # noqa: N801
    """Whole days from the second date to the first (``later - earlier``), as an integer."""

    type = sa.Integer()
    name = "days_between"
    inherit_cache = True


def _args(element: FunctionElement, compiler, **kw) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(week_start, "sqlite")
def _week_start_sqlite(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    # 'weekday 0' moves forward to the next Sunday (or stays on one); 6 days back is its Monday.
    return f"date({day}, 'weekday 0', '-6 days')"


@compiles(weekday, "sqlite")
def _weekday_sqlite(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7)"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw) -> str:
    later, earlier = _args(element, compiler, **kw)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


@compiles(week_start, "mysql")
@compiles(week_start, "mariadb")
def _week_start_mysql(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"DATE_SUB({day}, INTERVAL WEEKDAY({day}) DAY)"


@compiles(weekday, "mysql")
@compiles(weekday, "mariadb")
def _weekday_mysql(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"WEEKDAY({day})"


@compiles(days_between, "mysql")
@compiles(days_between, "mariadb")
def _days_between_mysql(element, compiler, **kw) -> str:
    later, earlier = _args(element, compiler, **kw)
    return f"DATEDIFF({later}, {earlier})"


class day_number(FunctionElement):  # noqa: N801
    """Days since 1970-01-01 of a date, as an integer: a bulk read gets dates as small ints that
    numpy turns into ``datetime64`` at once, instead of one string (or ``date``) per row."""

    type = sa.Integer()
    name = "day_number"
    inherit_cache = True


@compiles(day_number, "sqlite")
def _day_number_sqlite(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"CAST(julianday({day}) - 2440587.5 AS INTEGER)"


@compiles(day_number, "mysql")
@compiles(day_number, "mariadb")
def _day_number_mysql(element, compiler, **kw) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"(TO_DAYS({day}) - 719528)"
