"""Persisted access records: API keys and users, in one JSON file or two Redis hashes.

A raw API key is shown once, when it is made, and never stored: only its SHA-256
digest is (:mod:`serving.auth.hashing`); a user's password only as argon2id. The
record types and their checks are in :mod:`serving.auth.schema`, re-exported here.

The JSON of each record is the same in the file (``{"keys": [...], "users": [...]}``)
and in the Redis hashes (``{prefix}:keys`` / ``{prefix}:users``, field = name): the
async server reads either and turns it into records with :func:`parse_records`
(:func:`decode_hash` first, for an HGETALL reply).
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from recsys.errors import ConfigError, NotFoundError
from serving.auth._files import locked, replace_file
from serving.auth.hashing import (
    MIN_PASSWORD,
    hash_password,
    key_digest,
    new_key,
    verify_password,
)
from serving.auth.schema import (
    ROLES,
    SCOPES,
    KeyRecord,
    UserRecord,
    check_name,
    check_role,
    check_scopes,
)

if TYPE_CHECKING:
    import redis

__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "SCOPES",
    "AccessStore",
    "FileAccess",
    "KeyRecord",
    "RedisAccess",
    "UserRecord",
    "check_name",
    "check_role",
    "check_scopes",
    "decode_hash",
    "hash_password",
    "key_digest",
    "new_key",
    "parse_keys",
    "parse_records",
    "parse_users",
    "verify_password",
]

_KINDS = ("keys", "users")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=_Named)


def _index(records: Iterable[R], kind: str) -> dict[str, R]:
    found: dict[str, R] = {}
    for record in records:
        if record.name in found:
            raise ConfigError(f"{kind} {record.name!r} is stored twice")
        found[record.name] = record
    return found


def parse_keys(keys_json: Iterable[Mapping[str, Any]]) -> dict[str, KeyRecord]:
    """Key records by name from their JSON; ConfigError on a bad or repeated one."""
    return _index(map(KeyRecord.from_json, keys_json), "key")


def parse_users(users_json: Iterable[Mapping[str, Any]]) -> dict[str, UserRecord]:
    """User records by name from their JSON; ConfigError on a bad or repeated one."""
    return _index(map(UserRecord.from_json, users_json), "user")


def parse_records(
    keys_json: Iterable[Mapping[str, Any]], users_json: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, KeyRecord], dict[str, UserRecord]]:
    """Keys and users by name, from the JSON the file or the Redis hashes hold."""
    return parse_keys(keys_json), parse_users(users_json)


def _str(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def decode_hash(fields: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """The records' JSON from one hash's HGETALL (bytes or str); ConfigError on a
    value that is not JSON or whose name is not its field's."""
    found = []
    for field, value in fields.items():
        try:
            record = json.loads(_str(value))
        except json.JSONDecodeError as error:
            raise ConfigError(f"access record {_str(field)!r}: not JSON ({error})") from None
        if not isinstance(record, dict) or record.get("name") != _str(field):
            raise ConfigError(f"access record {_str(field)!r}: name differs from its field")
        found.append(record)
    return found


class AccessStore(ABC):
    """Keys and users, kept somewhere; every change checks its input the same way."""

    @abstractmethod
    def keys(self) -> dict[str, KeyRecord]:
        """Every API key record, by name."""

    @abstractmethod
    def users(self) -> dict[str, UserRecord]:
        """Every user record, by name."""

    @abstractmethod
    def _change(self, kind: str, name: str, record: dict[str, Any] | None, exists: bool) -> bool:
        """Atomically, if ``name`` is in ``kind`` exactly when ``exists``: store
        ``record`` under it (None: delete it) and return True; else return False."""

    def add_key(self, name: str, scopes: Iterable[str]) -> str:
        """Make and store a key; returns the raw key, the only time it is seen."""
        record, raw = KeyRecord.new(name, scopes)
        if not self._change("keys", name, record.to_json(), exists=False):
            raise ConfigError(f"key {name!r} already exists; revoke it or pick another name")
        return raw

    def revoke_key(self, name: str) -> None:
        """Delete key ``name``; NotFoundError if there is none."""
        if not self._change("keys", name, None, exists=True):
            raise NotFoundError(f"no key named {name!r}")

    def add_user(self, name: str, role: str, password: str) -> None:
        """Store a new user; ConfigError for a bad name, role or password, or a taken name."""
        if not self._change("users", name, UserRecord.new(name, role, password).to_json(), False):
            raise ConfigError(f"user {name!r} already exists")

    def remove_user(self, name: str) -> None:
        """Delete user ``name``; NotFoundError if there is none."""
        if not self._change("users", name, None, exists=True):
            raise NotFoundError(f"no user named {name!r}")

    def set_password(self, name: str, password: str) -> None:
        """Replace user ``name``'s password hash; NotFoundError if there is none."""
        user = self.users().get(name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        changed = dataclasses.replace(user, password_hash=hash_password(password))
        if not self._change("users", name, changed.to_json(), exists=True):
            raise NotFoundError(f"no user named {name!r}")  # removed meanwhile


class FileAccess(AccessStore):
    """One JSON file ``{"keys": [...], "users": [...]}``, mode 0600, replaced whole
    on each change (a reader sees the old file or the new, never half); a missing
    file holds nothing. Writers take a lock beside it, so none loses another's change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def keys(self) -> dict[str, KeyRecord]:
        """Every API key record in the file, by name."""
        return parse_keys(self._read()["keys"])

    def users(self) -> dict[str, UserRecord]:
        """Every user record in the file, by name."""
        return parse_users(self._read()["users"])

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {kind: [] for kind in _KINDS}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"access file {self.path}: not JSON ({error})") from None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in _KINDS):
            expected = '{"keys": [...], "users": [...]}'
            raise ConfigError(f"access file {self.path}: expected {expected}")
        return {kind: data[kind] for kind in _KINDS}

    def _change(self, kind: str, name: str, record: dict[str, Any] | None, exists: bool) -> bool:
        with locked(self.path):
            data = self._read()
            parse_records(data["keys"], data["users"])  # never rewrite a file we cannot read
            found = {r["name"]: r for r in data[kind]}
            if (name in found) != exists:
                return False
            if record is None:
                del found[name]
            else:
                found[name] = record
            self._write({**data, kind: list(found.values())})
            return True

    def _write(self, data: dict[str, list[Any]]) -> None:
        replace_file(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)


#: Set (ARGV[2] non-empty) or delete field ARGV[1] if its presence is ARGV[3] ('1'/'0').
_CHANGE = """
if (redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1) ~= (ARGV[3] == '1') then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


class RedisAccess(AccessStore):
    """Hashes ``{prefix}:keys`` and ``{prefix}:users``: field = name, value = the
    record's JSON. ``client`` is a synchronous ``redis.Redis``."""

    def __init__(self, client: redis.Redis, prefix: str = "recsys:access") -> None:
        self.client, self.prefix = client, prefix
        self._script = client.register_script(_CHANGE)

    def hash_name(self, kind: str) -> str:
        """The Redis key of the ``keys`` or ``users`` hash."""
        return f"{self.prefix}:{kind}"

    def keys(self) -> dict[str, KeyRecord]:
        """Every API key record in Redis, by name."""
        return parse_keys(decode_hash(self._all("keys")))

    def users(self) -> dict[str, UserRecord]:
        """Every user record in Redis, by name."""
        return parse_users(decode_hash(self._all("users")))

    def _all(self, kind: str) -> dict[Any, Any]:
        return dict(self.client.hgetall(self.hash_name(kind)))

    def _change(self, kind: str, name: str, record: dict[str, Any] | None, exists: bool) -> bool:
        value = "" if record is None else json.dumps(record)
        args = [name, value, "1" if exists else "0"]
        return bool(self._script(keys=[self.hash_name(kind)], args=args))
