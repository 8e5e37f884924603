"""Keyed hashing for identifiers the DE needs to join on but must not read in the clear.

HMAC-SHA256 with a secret key (``KURRANT_SYNC_HASH_KEY`` or ``[kurrant] sync_hash_key``): unlike
a plain hash, nobody without the key can confirm a guessed e-mail or phone number against it.
"""
from __future__ import annotations

import hashlib
import hmac

from kurrant_core import config
from kurrant_core.errors import KurrantError

HASH_KEY_SETTING = "sync_hash_key"


def hash_key() -> bytes:
    """The configured key, or a KurrantError that says how to set one."""
    key = config.setting(HASH_KEY_SETTING)
    if not key:
        raise KurrantError(
            "This sync hashes sensitive identifiers but no key is set. Set KURRANT_SYNC_HASH_KEY "
            "(or sync_hash_key under [kurrant] in .streamlit/secrets.toml) to a long random secret, "
            "and keep it: changing it changes every hashed value.")
    return key.encode()


def keyed_hash(value: object, key: bytes) -> str | None:
    """Hex HMAC-SHA256 of ``value`` as trimmed text; None stays None so NULLs stay NULL."""
    if value is None:
        return None
    return hmac.new(key, str(value).strip().encode(), hashlib.sha256).hexdigest()
