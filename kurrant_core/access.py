"""Who may write, decided in one place: a person, a role, and :func:`check` for every action.

A **person** is whoever acts: a signed-in e-mail (``st.login`` with the company's OpenID Connect
provider), someone at the dashboard who typed the shared team password, the CLI
(``cli:<os user>``), the Airflow DAG (``dag:<dag id>``) or a retrain job acting for whoever
submitted it. A person has one **role**:

- ``team`` may write: retrain, cancel, activate, publish, apply and save policies, auto-order
  settings and plans, ensembles;
- ``viewer`` reads everything and writes nothing (PMs, everyone signed in who is not on the team).

Roles come from configuration, never from the page: ``team_emails`` (a list or a comma-separated
string of addresses) and ``team_domains`` (``kurrant.co.kr`` means every address @kurrant.co.kr)
under ``[kurrant]`` in ``.streamlit/secrets.toml``, or ``KURRANT_TEAM_EMAILS`` /
``KURRANT_TEAM_DOMAINS`` in the environment (which wins). Deployments without an identity provider
keep the shared team password: only its SHA-256 is configured (``team_password_sha256`` /
``KURRANT_TEAM_PASSWORD_SHA256``); whoever types it is ``team`` for that session. The CLI, the DAG
and jobs are ``team``: they run with shell access to the DE database.

Pages ask :func:`check` to enable a control; every writing library entry point asks
:func:`require` (through ``kurrant_core.audit.audited``), so a forced call by a viewer is refused
with :class:`AccessDenied` and recorded in the audit trail.
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from kurrant_core import config, ui_text
from kurrant_core.errors import KurrantError

# ----------------------------------------------------------------------------------- roles and ways in
TEAM, VIEWER = "team", "viewer"
ROLES = (TEAM, VIEWER)

VIA_SIGN_IN = "sign-in"           # st.login with the configured OpenID Connect provider
VIA_PASSWORD = "team-password"    # the shared team password (deployments without a provider)
VIA_NONE = "anonymous"            # nobody has identified themselves
VIA_CLI = "cli"
VIA_DAG = "dag"
VIA_JOB = "job"                   # a retrain job acting for whoever submitted it

# ----------------------------------------------------------------------------------- actions
READ = "read"
RETRAIN = "retrain"
CANCEL = "cancel"
ACTIVATE = "activate"
PUBLISH = "publish"
APPLY_POLICY = "apply_policy"
SAVE_POLICY = "save_policy"
AUTO_ORDER_SETTINGS = "auto_order_settings"
AUTO_ORDER_PLAN = "auto_order_plan"
MAKE_ENSEMBLE = "make_ensemble"
WRITE_ACTIONS = (RETRAIN, CANCEL, ACTIVATE, PUBLISH, APPLY_POLICY, SAVE_POLICY, AUTO_ORDER_SETTINGS,
                 AUTO_ORDER_PLAN, MAKE_ENSEMBLE)
"""Every action that writes to the DE database; each one passes :func:`check` and is audited."""
ACTIONS = (READ, *WRITE_ACTIONS)

# ----------------------------------------------------------------------------------- settings
TEAM_EMAILS = "team_emails"
TEAM_DOMAINS = "team_domains"
PASSWORD_SETTING = "team_password_sha256"
ENV_PASSWORD = f"KURRANT_{PASSWORD_SETTING.upper()}"
ENV_DAG = "KURRANT_DAG"
"""Set by the Airflow DAG for its tasks: the CLI then acts as ``dag:<this value>``."""

NO_PASSWORD, ENTER_PASSWORD, WRONG_PASSWORD, SIGN_IN_FIRST, NO_EMAIL = (
    "access.no_password", "access.enter_password", "access.wrong_password", "access.sign_in_first",
    "access.no_email")
"""Catalogue keys (``kurrant_core.ui_text``) of the reasons a person is a viewer."""
ADMIN_DETAIL = {NO_PASSWORD: "access.no_password_admin"}
"""Catalogue keys of what an administrator must set up, for reasons whose fix is configuration: the
page folds it away under the sentence a PM reads (whom to ask)."""


class AccessDenied(KurrantError):
    """A person tried an action their role does not allow (the message says why and whom to ask).

    The message is the reason in the default language; :meth:`in_language` gives it in another one
    (``ui_text.error_text`` asks for it), since the reason is built from the person and the action.
    """

    def __init__(self, message: str, *, person: Person | None = None, action: str | None = None):
        super().__init__(message)
        self.person, self.action = person, action

    def in_language(self, lang: str) -> str:
        if self.person is None or self.action is None:
            return str(self)
        return check(self.person, self.action, lang).reason


@dataclass(frozen=True)
class Person:
    """Whoever acts: ``who`` is what the audit trail records (an e-mail, ``cli:<user>``, …)."""

    who: str
    role: str
    via: str
    note: str = ""
    """Catalogue key of why a viewer is one, when it is not simply their role (no password yet, …)."""

    @property
    def is_team(self) -> bool:
        return self.role == TEAM

    def label(self, lang: str = ui_text.DEFAULT_LANGUAGE) -> str:
        """``ana@kurrant.co.kr · 팀`` — how the sidebar shows the person."""
        return f"{self.who} · {ui_text.text(f'role.{self.role}', lang)}"


@dataclass(frozen=True)
class Decision:
    """Whether a person may do an action, and a sentence saying why (or why not) for the page."""

    allowed: bool
    reason: str


# ----------------------------------------------------------------------------------- roles from configuration
def _configured_list(name: str) -> list[str]:
    """A list setting: the environment's comma-separated value, else the secrets file's list or string."""
    env = os.environ.get(f"KURRANT_{name.upper()}")
    value: object = env if env is not None else config.read_secrets().get(name)
    if value is None:
        return []
    items: Iterable[object] = value.split(",") if isinstance(value, str) else value if isinstance(
        value, list) else [value]
    return [str(item).strip().lower() for item in items if str(item).strip()]


def team_emails() -> frozenset[str]:
    """The configured team addresses, lower-cased."""
    return frozenset(_configured_list(TEAM_EMAILS))


def team_domains() -> frozenset[str]:
    """The configured team domains, lower-cased and without a leading ``@``."""
    return frozenset(d.lstrip("@") for d in _configured_list(TEAM_DOMAINS))


def role_for_email(email: str) -> str:
    """``team`` when the address is listed or its domain is a team domain, else ``viewer``."""
    address = email.strip().lower()
    domain = address.rpartition("@")[2]
    if address and (address in team_emails() or (domain and domain in team_domains())):
        return TEAM
    return VIEWER


def signed_in(email: str) -> Person:
    """The person an identity provider vouched for, with the role configuration gives their e-mail."""
    address = email.strip().lower()
    if not address:
        return anonymous(NO_EMAIL)
    return Person(address, role_for_email(address), VIA_SIGN_IN)


def anonymous(note: str = "") -> Person:
    """Nobody in particular: reads, never writes."""
    return Person(VIA_NONE, VIEWER, VIA_NONE, note)


def cli_person() -> Person:
    """The CLI's person: ``cli:<os user>``, or ``dag:<id>`` when the Airflow DAG runs it."""
    dag = os.environ.get(ENV_DAG, "").strip()
    if dag:
        return Person(f"dag:{dag}", TEAM, VIA_DAG)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):          # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Person(f"cli:{user}", TEAM, VIA_CLI)


def job_person(triggered_by: str | None) -> Person:
    """A retrain job's person: it acts for whoever submitted it (that submission passed the check)."""
    return Person(triggered_by or "job", TEAM, VIA_JOB)


# ----------------------------------------------------------------------------------- the team password
def password_hash(password: str) -> str:
    """The hex SHA-256 of ``password`` (what the setting holds)."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def configured_hash() -> str | None:
    value = (config.setting(PASSWORD_SETTING) or "").strip().lower()
    return value or None


def with_password(password: str | None, name: str | None = None) -> Person:
    """The person at a dashboard without an identity provider: ``team`` when ``password`` matches the
    configured hash (compared in constant time), else a viewer whose note says why."""
    expected = configured_hash()
    if expected is None:
        return anonymous(NO_PASSWORD)
    if not password:
        return anonymous(ENTER_PASSWORD)
    if not hmac.compare_digest(password_hash(password), expected):
        return anonymous(WRONG_PASSWORD)
    name = (name or "").strip()[:80]
    return Person(f"{name} (team password)" if name else "team password", TEAM, VIA_PASSWORD)


# ----------------------------------------------------------------------------------- the check
def check(person: Person, action: str, lang: str = ui_text.DEFAULT_LANGUAGE) -> Decision:
    """May ``person`` do ``action``? Reading is open to all; every write needs the ``team`` role.
    The reason is a sentence for the page, in ``lang``."""
    if action not in ACTIONS:
        raise KurrantError(f"Unknown action {action!r}; known actions: {', '.join(ACTIONS)}.")
    label = ui_text.text(f"action.{action}", lang)
    if action == READ or person.role == TEAM:
        return Decision(True, ui_text.text("access.allowed", lang, who=person.label(lang), action=label))
    if person.note:
        return Decision(False, ui_text.text(person.note, lang))
    if person.via == VIA_SIGN_IN:
        return Decision(False, ui_text.text("access.viewer_signed_in", lang, who=person.who, action=label))
    return Decision(False, ui_text.text("access.viewer", lang, action=label))


def admin_detail(person: Person, lang: str = ui_text.DEFAULT_LANGUAGE) -> str:
    """How an administrator lifts the person's read-only state ("" when that is not configuration)."""
    key = ADMIN_DETAIL.get(person.note)
    return ui_text.text(key, lang) if key else ""


def require(person: Person, action: str) -> None:
    """Raise :class:`AccessDenied` (with the reason) unless ``person`` may do ``action``."""
    decision = check(person, action)
    if not decision.allowed:
        raise AccessDenied(decision.reason, person=person, action=action)
