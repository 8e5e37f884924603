"""The audit trail: who did which write, to what, when, and how it ended.

Every writing entry point runs inside :func:`audited`: it checks the person's access first (a refusal
is recorded as ``denied`` and raised as ``AccessDenied``), and records the outcome in ``de_audit``:
``ok`` — in the action's own transaction when it has one (``act.done(conn)``), so the row and the
write commit together or not at all — or ``failed`` with the error message, in a transaction of its
own after the action's was rolled back. Passwords, tokens and secrets never reach the table: the
``who`` is an e-mail or a name, never a credential, and error text has any URL password masked.

New features audit their writes the same way::

    with audit.audited(engine, person, access.AUTO_ORDER_PLAN, f"{day} {dining}") as act:
        with engine.begin() as conn:
            ...                                  # the write
            act.done(conn, target=f"plan {plan_id}")
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import access, schema
from kurrant_core.errors import KurrantError

OK, FAILED, DENIED = "ok", "failed", "denied"
OUTCOMES = (OK, FAILED, DENIED)
OUTCOME_LABEL = {OK: "성공", FAILED: "실패", DENIED: "거부"}
TABLE = schema.de_audit
COLUMNS = [c.name for c in TABLE.columns]
ERROR_CHARS = 2000
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


def ensure_table(engine: sa.Engine) -> None:
    """A DE database from before the audit trail gets its (empty) table on first write."""
    TABLE.create(engine, checkfirst=True)


def scrub(text: str | None) -> str | None:
    """``text`` safe to store: any ``scheme://user:password@`` has its password masked; cut to size."""
    if text is None:
        return None
    return _URL_PASSWORD.sub(r"\1***@", str(text))[:ERROR_CHARS]


def record(conn: sa.Connection, person: access.Person, action: str, target: str | None, outcome: str,
           error: str | None = None) -> None:
    """One audit row, inside the caller's transaction."""
    if action not in access.ACTIONS or outcome not in OUTCOMES:
        raise ValueError(f"unknown action {action!r} or outcome {outcome!r}")
    conn.execute(TABLE.insert().values(
        at=datetime.now().replace(microsecond=0), who=person.who[:200], action=action,
        target=None if target is None else str(target)[:300], outcome=outcome, error=scrub(error)))


def _record_alone(engine: sa.Engine, person: access.Person, action: str, target: str | None,
                  outcome: str, error: str | None = None) -> None:
    with engine.begin() as conn:
        record(conn, person, action, target, outcome, error)


class AuditedAction:
    """Handed out by :func:`audited`: call :meth:`done` inside the action's transaction."""

    def __init__(self, person: access.Person, action: str, target: str | None):
        self.person, self.action, self.target = person, action, target
        self.recorded = False

    def done(self, conn: sa.Connection, target: str | None = None) -> None:
        """Record success in ``conn``'s transaction (``target`` may name what was just created)."""
        if target is not None:
            self.target = target
        record(conn, self.person, self.action, self.target, OK)
        self.recorded = True


@contextmanager
def audited(engine: sa.Engine, person: access.Person, action: str,
            target: str | None = None) -> Iterator[AuditedAction]:
    """Check ``person`` may do ``action``, run the block, and record how it ended.

    A refusal is recorded as ``denied`` and raises ``access.AccessDenied`` before anything is
    written. An exception from the block is recorded as ``failed`` with its message (its own
    transaction: the action's was rolled back) and re-raised. Success without :meth:`done` is
    recorded after the block, for actions that have no single transaction of their own.
    """
    decision = access.check(person, action)
    ensure_table(engine)
    if not decision.allowed:
        _record_alone(engine, person, action, target, DENIED, decision.reason)
        raise access.AccessDenied(decision.reason, person=person, action=action)
    act = AuditedAction(person, action, target)
    try:
        yield act
    except Exception as exc:
        _record_alone(engine, person, action, act.target, FAILED, str(exc) or type(exc).__name__)
        raise
    if not act.recorded:
        _record_alone(engine, person, action, act.target, OK)


# ----------------------------------------------------------------------------------- reading it
def audit_log(engine: sa.Engine, *, since: date | None = None, limit: int | None = 200) -> pd.DataFrame:
    """The newest audit rows first (``since``: from that day on); empty before the first write."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(TABLE.name):
            return pd.DataFrame(columns=COLUMNS)
        query = sa.select(TABLE).order_by(TABLE.c.id.desc())
        if since is not None:
            query = query.where(TABLE.c.at >= datetime.combine(since, datetime.min.time()))
        if limit is not None:
            query = query.limit(limit)
        return pd.DataFrame(conn.execute(query).mappings().all(), columns=COLUMNS)


def parse_since(text: str) -> date:
    """``2026-05-01`` or ``7d`` (seven days ago) -> a date; a clear error otherwise."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)d", text)
    if match:
        return date.today() - timedelta(days=int(match.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise KurrantError(f"--since {text!r}: write a date (YYYY-MM-DD) or a number of days (7d).") from None
