"""First run on a fresh machine: a random local team password, so Retrain works at once.

``make run`` (``ensure-demo``) calls :func:`ensure_local_team_password`. On the embedded SQLite
demo database, when no team password is configured (and no identity provider either), it draws a
random password, stores only its SHA-256 as ``[kurrant] team_password_sha256`` in the git-ignored
``.streamlit/secrets.toml`` (created, or extended without touching its other keys), and returns the
password for the caller to print once. Never on a MySQL DE (a shared server is configured by its
admins), never a fixed default password.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
import tomllib
from pathlib import Path

import sqlalchemy as sa

from kurrant_core import access, config
from kurrant_core.errors import KurrantError

PASSWORD_BYTES = 12
"""16 URL-safe characters: 96 random bits."""
_HEADER = re.compile(r"^[ \t]*\[[ \t]*" + re.escape(config.SECRETS_SECTION) + r"[ \t]*\][ \t]*(#.*)?$", re.M)
_ANY_HEADER = re.compile(r"^[ \t]*\[", re.M)


def _read_toml(path: Path) -> tuple[str, dict]:
    if not path.exists():
        return "", {}
    text = path.read_text(encoding="utf-8")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KurrantError(f"{path} is not valid TOML ({exc}); fix it or remove it.") from None


def store_setting(path: Path, name: str, value: str) -> None:
    """Set ``[kurrant] name = "value"`` in the TOML file at ``path``, keeping every other line.

    The key is replaced where it stands, added under an existing ``[kurrant]`` header, or a
    ``[kurrant]`` table is appended. The result is checked by parsing it again and written
    atomically, readable by its owner only; on any doubt the file is left as it was.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or '"' in value or "\\" in value:
        raise KurrantError(f"Cannot store {name!r}: a setting name is letters, digits and '_'.")
    text, _ = _read_toml(path)
    line = f'{name} = "{value}"'
    header = _HEADER.search(text)
    if header:
        following = _ANY_HEADER.search(text, header.end())
        end = following.start() if following else len(text)
        body = text[header.end():end]
        key = re.compile(rf"^[ \t]*{name}[ \t]*=.*$", re.M)
        body = key.sub(lambda _m: line, body, count=1) if key.search(body) else "\n" + line + body
        new = text[:header.end()] + body + text[end:]
    else:
        glue = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        new = f"{text}{glue}[{config.SECRETS_SECTION}]\n{line}\n"
    try:
        stored = tomllib.loads(new).get(config.SECRETS_SECTION, {}).get(name)
    except tomllib.TOMLDecodeError:
        stored = None
    if stored != value:
        raise KurrantError(f"Could not add {name} under [{config.SECRETS_SECTION}] in {path} safely; add "
                           f'the line {name} = "…" there by hand.')
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_local_team_password(engine: sa.Engine) -> str | None:
    """A new random team password when this is the embedded demo and none is configured, else None.

    Only its hash is stored (in ``config.secrets_path()``); the caller prints the password once.
    """
    if engine.dialect.name != "sqlite" or access.configured_hash() is not None:
        return None
    path = config.secrets_path()
    _, data = _read_toml(path)
    if "auth" in data:                   # an identity provider is configured: people sign in instead
        return None
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    store_setting(path, access.PASSWORD_SETTING, access.password_hash(password))
    return password
