"""Who may act: retrain, cancel, activate and publish need the team password.

Only its SHA-256 (hex) is configured, in ``KURRANT_TEAM_PASSWORD_SHA256`` or
``[kurrant] team_password_sha256`` in ``.streamlit/secrets.toml``; the password itself is never
stored. Without a configured hash nobody can act from the dashboard (the CLI is for people with
shell access and needs no password).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from kurrant_core import config

SETTING = "team_password_sha256"
HOW_TO_CONFIGURE = (
    "No team password is configured, so retraining from the dashboard is off. Set "
    "KURRANT_TEAM_PASSWORD_SHA256 (or team_password_sha256 under [kurrant] in "
    ".streamlit/secrets.toml) to the SHA-256 of the password, e.g. the output of "
    "`python -c \"import hashlib; print(hashlib.sha256(b'your password').hexdigest())\"`.")


@dataclass(frozen=True)
class Access:
    """Whether the person at the page may act, and, if not, why (shown on the page)."""

    allowed: bool
    reason: str


def password_hash(password: str) -> str:
    """The hex SHA-256 of ``password`` (what the setting holds)."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def configured_hash() -> str | None:
    value = (config.setting(SETTING) or "").strip().lower()
    return value or None


def check_team_password(password: str | None) -> Access:
    """Compare ``password`` with the configured hash in constant time."""
    expected = configured_hash()
    if expected is None:
        return Access(False, HOW_TO_CONFIGURE)
    if not password:
        return Access(False, "Read-only: retrain, cancel, activate and publish need the team "
                             "password (PMs can look at everything here without it).")
    if hmac.compare_digest(password_hash(password), expected):
        return Access(True, "Team password accepted.")
    return Access(False, "That is not the team password; the page stays read-only.")
