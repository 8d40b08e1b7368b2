"""API keys and password hashes: what is stored instead of the secret itself.

Keys are 256 random bits, so a fast unsalted SHA-256 digest is the right lookup (as
GitHub and Stripe tokens): nothing can be guessed from it. Passwords are chosen by
people, hence argon2id, which is slow and memory-hard on purpose.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from recsys.errors import ConfigError

__all__ = ["MIN_PASSWORD", "hash_password", "key_digest", "new_key", "verify_password"]

#: Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask more).
MIN_PASSWORD = 12
_KEY_PREFIX = "rsk_"  # lets secret scanners and people recognise a leaked key
_HASHER = PasswordHasher()  # argon2id with RFC 9106's low-memory parameters


def new_key() -> str:
    """A new raw API key: ``rsk_`` and 256 random bits, URL-safe base64."""
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(raw: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash (salted, parameters included) of ``password``; ConfigError if
    it is shorter than :data:`MIN_PASSWORD` characters."""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; False (never an error) on a
    mismatch or a hash that cannot be read."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False
