"""What an access record holds: API keys (their digests) and users, with checks.

Every record read back from a file or Redis goes through ``from_json``, so a bad
value stops with a ConfigError naming the record and the field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from recsys.errors import ConfigError
from serving.auth.hashing import hash_password, key_digest, new_key

__all__ = [
    "RESERVED",
    "ROLES",
    "SCOPES",
    "KeyRecord",
    "UserRecord",
    "check_name",
    "check_role",
    "check_scopes",
]

SCOPES = ("read", "events", "catalogue", "admin")
ROLES = ("manager", "analyst", "admin")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: How outcomes, the audit log and the team report name callers who are no user:
#: a user of one of these names would be mistaken for them (or they for the user).
RESERVED = frozenset({"local", "open", "anonymous"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _where(d: object, kind: str) -> str:
    """``key record 'name'``, for messages; ConfigError unless ``d`` is an object."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{kind} record must be a JSON object, got {type(d).__name__}")
    name = d.get("name")
    return f"{kind} record {name!r}" if isinstance(name, str) else f"{kind} record (no name)"


def _text(d: Mapping[str, Any], field: str, where: str) -> str:
    value = d.get(field)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: field {field!r} must be a non-empty string")
    return value


def check_name(name: str, kind: str) -> str:
    """``name`` if it is a valid key or user name, else ConfigError naming it (and
    why, for a user name in :data:`RESERVED`; keys are named ``key:NAME``, apart)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{kind} name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    if kind == "user" and name.lower() in RESERVED:
        said = ", ".join(sorted(RESERVED))
        raise ConfigError(
            f"user name {name!r} is reserved: outcomes and the team report name the "
            f"callers of protected and open mode so ({said}); choose another"
        )
    return name


def check_scopes(scopes: Iterable[str], where: str) -> frozenset[str]:
    """``scopes`` as a set if every one is known and there is one at least."""
    found = frozenset(scopes)
    unknown = sorted(found - set(SCOPES))
    if unknown or not found:
        problem = f"unknown scope {unknown[0]!r}" if unknown else "no scope given"
        raise ConfigError(f"{where}: field 'scopes': {problem} (known: {', '.join(SCOPES)})")
    return found


def check_role(role: str, where: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else ConfigError naming it."""
    if role not in ROLES:
        known = ", ".join(ROLES)
        raise ConfigError(f"{where}: field 'role': unknown role {role!r} (known: {known})")
    return role


@dataclass(frozen=True)
class KeyRecord:
    """One API key as stored: its SHA-256 digest (hex), never the key itself."""

    name: str
    digest: str
    scopes: frozenset[str]
    created: str

    def to_json(self) -> dict[str, Any]:
        """The record's JSON fields (scopes sorted, so stored records diff cleanly)."""
        scopes = sorted(self.scopes)
        return {"name": self.name, "digest": self.digest, "scopes": scopes, "created": self.created}

    @classmethod
    def new(cls, name: str, scopes: Iterable[str]) -> tuple[Self, str]:
        """A record for a new key, and that raw key (shown once, then only its digest)."""
        given = check_scopes(scopes, f"key {name!r}")
        raw = new_key()
        return cls(check_name(name, "key"), key_digest(raw), given, _now()), raw

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Self:
        """The record from :meth:`to_json`'s fields; ConfigError names a bad field."""
        where = _where(d, "key")
        name, digest, created = (_text(d, f, where) for f in ("name", "digest", "created"))
        if not _DIGEST.fullmatch(digest):
            raise ConfigError(f"{where}: field 'digest' must be 64 lowercase hex digits")
        scopes = d.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ConfigError(f"{where}: field 'scopes' must be a list of strings")
        return cls(check_name(name, "key"), digest, check_scopes(scopes, where), created)


@dataclass(frozen=True)
class UserRecord:
    """One person who signs in: a role and an argon2id hash of their password."""

    name: str
    role: str
    password_hash: str
    created: str

    def to_json(self) -> dict[str, Any]:
        """The record's JSON fields."""
        return dataclasses.asdict(self)

    @classmethod
    def new(cls, name: str, role: str, password: str) -> Self:
        """A record for a new user; ConfigError for a bad name, role or password."""
        role = check_role(role, f"user {name!r}")
        return cls(check_name(name, "user"), role, hash_password(password), _now())

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Self:
        """The record from :meth:`to_json`'s fields; ConfigError names a bad field."""
        where = _where(d, "user")
        name, role, created = (_text(d, f, where) for f in ("name", "role", "created"))
        password_hash = _text(d, "password_hash", where)
        if not password_hash.startswith("$argon2id$"):
            raise ConfigError(f"{where}: field 'password_hash' is not an argon2id hash")
        return cls(check_name(name, "user"), check_role(role, where), password_hash, created)
