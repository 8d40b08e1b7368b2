"""The keys and people the service knows, held in memory and refreshed in the
background, so checking a request costs a hash and a dict lookup (no Redis round trip).

Sources, merged: the two legacy settings (``read_api_key`` → a key named
``read_api_key`` with scope ``read``; ``admin_api_key`` → ``admin_api_key`` with
``admin``), the access file (``recsys keys`` / ``recsys users``), and with Redis the
access hashes every replica shares. A rotated key works on every replica within
``access_reload_seconds``; a revoked one stops within the same interval.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from serving.auth.principal import Principal
from serving.auth.records import (
    FileAccess,
    KeyRecord,
    UserRecord,
    decode_hash,
    key_digest,
    parse_records,
)

__all__ = ["KeyRing", "Known"]

log = logging.getLogger("recsys.serving")


@dataclass(frozen=True)
class Known:
    """One snapshot of the keys (by digest) and users (by name)."""

    keys: dict[str, Principal] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    complete: bool = True
    """False while the Redis part could not be read yet: then every scope needs a key
    (fail closed), the file's and the settings' keys working meanwhile."""

    def carried(self, scope: str) -> bool:
        """Whether some key can use routes of ``scope`` (then they need a key)."""
        if not self.complete:
            return True
        if scope == "read":  # an admin key alone leaves reads open, as before
            return any("read" in p.scopes for p in self.keys.values())
        return any(p.allows(scope) for p in self.keys.values())


def _principal(record: KeyRecord) -> Principal:
    return Principal(record.name, "key", frozenset(record.scopes))


class KeyRing:
    """The current :class:`Known`, rebuilt by :meth:`refresh`."""

    def __init__(self, legacy: dict[str, Any], path: Path | None, redis: Any = None) -> None:
        self.legacy = legacy  # name → (raw key, scopes), from the settings
        self.file = FileAccess(path) if path is not None else None
        self.redis = redis
        self.prefix = "recsys:access"
        self.known = self._build([], [], self.redis is None)

    def principal(self, raw: str | bytes) -> Principal | None:
        """The key's caller, or None for an unknown key."""
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        return self.known.keys.get(key_digest(text))

    async def refresh(self) -> None:
        """Reread the file and Redis. A broken file raises (the last snapshot holds);
        Redis not answering before its keys were ever read leaves the snapshot
        incomplete (every scope needs a key) until a later refresh reads them."""
        keys, users = await asyncio.to_thread(self._from_file)
        complete = True
        if self.redis is not None:
            try:
                more_keys, more_users = await self._from_redis()
            except (RedisError, OSError):
                if self.known.complete:
                    raise  # read before: keep that snapshot (run() logs it)
                log.warning("access records in Redis unreadable: every route needs a key")
                more_keys, more_users, complete = [], [], False
            keys, users = keys + more_keys, users + more_users
        self.known = self._build(keys, users, complete)

    async def run(self, every: float) -> None:
        """Refresh every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh()
            except Exception:  # a broken file or Redis away: keep serving the last keys
                log.exception("reloading keys and users failed; the previous ones hold")

    def _from_file(self) -> tuple[list[KeyRecord], list[UserRecord]]:
        if self.file is None:
            return [], []
        return list(self.file.keys().values()), list(self.file.users().values())

    async def _from_redis(self) -> tuple[list[KeyRecord], list[UserRecord]]:
        keys = decode_hash(await self.redis.hgetall(f"{self.prefix}:keys"))
        users = decode_hash(await self.redis.hgetall(f"{self.prefix}:users"))
        by_name, people = parse_records(keys, users)
        return list(by_name.values()), list(people.values())

    def _build(self, keys: list[KeyRecord], users: list[UserRecord], complete: bool) -> Known:
        by_digest = {r.digest: _principal(r) for r in keys}
        for name, (raw, scopes) in self.legacy.items():
            by_digest[key_digest(raw)] = Principal(name, "key", frozenset(scopes))
        return Known(by_digest, {u.name: u for u in users}, complete)
