"""The online store: one hash per client and feature version, in Redis or in process.

Reading one client is one round trip (a script: GET the current version, HGETALL
its hash, HGET the client's manager assignment). Clients per manager: see
:mod:`feature_store.managers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import redis

from feature_store import managers
from feature_store.managers import ASSIGNED, MemoryManagers

__all__ = ["READ", "READ_KEYS", "OnlineStore", "decode_row"]

_CURRENT = "features:current"
#: GET the current version and HGETALL that version's hash in one round trip.
#: A client assigned on the screen gets that manager (as JSON, like every field).
#: Public so that an async client runs the same read (``serving.profiles.LiveProfiles``).
READ = """
local version = redis.call('GET', KEYS[1])
if not version then return {} end
local row = redis.call('HGETALL', 'features:' .. version .. ':' .. ARGV[1])
local assigned = redis.call('HGET', KEYS[2], ARGV[1])
if assigned and #row > 0 then
  row[#row + 1] = 'manager'
  row[#row + 1] = assigned == '' and 'null' or cjson.encode(assigned)
end
return row
"""
#: The keys :data:`READ` is run with (its one argument: the client id).
READ_KEYS = (_CURRENT, ASSIGNED)


def decode_row(flat: list[bytes]) -> dict[str, Any] | None:
    """A client's features as :data:`READ` returns them (field, JSON value, …);
    ``None`` for an unknown client."""
    pairs = zip(flat[0::2], flat[1::2], strict=True)
    return {_text(k): orjson.loads(v) for k, v in pairs} or None


def _missing(value: object) -> bool:
    if isinstance(value, list | dict | tuple):
        return False
    return bool(pd.isna(value))  # type: ignore[call-overload]


def _plain(value: object) -> object:
    """Lists read back from Parquet arrive as numpy arrays (of dicts)."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _row_fields(row: pd.Series) -> dict[str, bytes]:
    row = row.map(_plain)
    return {
        str(k): orjson.dumps(
            None if _missing(v) else v, default=str, option=orjson.OPT_SERIALIZE_NUMPY
        )
        for k, v in row.items()
    }


class OnlineStore:
    """Materialised features; ``redis_url`` unset → an in-process dict (embedded default)."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            if redis_url
            else None
        )
        self._read = self.redis.register_script(READ) if self.redis is not None else None
        self._scripts = managers.scripts(self.redis) if self.redis is not None else {}
        self._memory: dict[str, dict[str, dict[str, bytes]]] = {}
        self._version: str | None = None
        self._managers = MemoryManagers()

    def materialise(self, table: pd.DataFrame, version: str, batch: int = 1000) -> int:
        """Write every client's row under ``version`` and index its clients per
        ``manager`` (when the table has that column), then make it current."""
        rows = {str(client): _row_fields(row) for client, row in table.iterrows()}
        if self.redis is None:
            self._managers.publish(version, table)
            self._memory[version], self._version = rows, version
            return len(rows)
        pipe = self.redis.pipeline(transaction=False)
        for n, (client, fields) in enumerate(rows.items(), start=1):
            pipe.hset(f"features:{version}:{client}", mapping=fields)  # type: ignore[arg-type]
            if n % batch == 0:
                pipe.execute()
        for manager, clients in managers.by_manager(table).items():  # before it is current
            pipe.delete(managers.index_key(version, manager))
            pipe.sadd(managers.index_key(version, manager), *clients)
        pipe.set(_CURRENT, version)
        pipe.execute()
        return len(rows)

    def at_risk(self, limit: int, manager: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Clients flagged ``churn_risk`` (of ``manager`` when given), highest net
        spend first (in-process store only)."""
        rows = self._memory.get(self._version or "", {})
        clients = rows if manager is None else (c for c in self.clients_of(manager) if c in rows)
        risky = [c for c in clients if orjson.loads(rows[c].get("churn_risk", b"false"))]
        found = [(c, self.get(c) or {}) for c in risky]
        return sorted(found, key=lambda r: -(r[1].get("monetary") or 0.0))[:limit]

    def clients_of(self, manager: str) -> list[str]:
        """``manager``'s clients, sorted: those the current features give them, less
        those assigned elsewhere since, plus those assigned to them."""
        if self.redis is None:
            return self._managers.clients_of(self._version, manager)
        found = self._scripts["clients_of"](keys=[_CURRENT, ASSIGNED], args=[manager])
        return sorted(_text(c) for c in found)

    def assign(self, client: str, manager: str | None) -> None:
        """Give ``client`` to ``manager`` (``None``: to nobody) over what the features
        say; it holds across feature versions until assigned again."""
        name = None if manager is None else manager.strip()  # as the table's are indexed
        if name == "":
            raise ValueError("manager: empty (use None for no manager)")
        if self.redis is None:
            self._managers.assign(client, name)
            return
        self._scripts["assign"](keys=[ASSIGNED], args=[client, name or ""])

    def get(self, client: str) -> dict[str, Any] | None:
        """The current features of ``client``; ``None`` for an unknown client."""
        if self._read is None:
            fields = self._memory.get(self._version or "", {}).get(client) or {}
            row = {k: orjson.loads(v) for k, v in fields.items()}
            return self._managers.merged(client, row) or None
        return decode_row(self._read(keys=list(READ_KEYS), args=[client]))

    def fields_of(
        self, clients: list[str], fields: tuple[str, ...], batch: int = 1000
    ) -> dict[str, dict[str, Any]]:
        """``fields`` of many clients' current features (precompute reads what each
        request would): one pipelined HMGET per client, ``batch`` per round trip;
        clients without features are left out."""
        if self.redis is None:
            rows = ((c, self.get(c)) for c in clients)
            return {c: {f: row.get(f) for f in fields} for c, row in rows if row}
        version = self.redis.get(_CURRENT)
        if version is None:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(clients), batch):
            found |= self._chunk(_text(version), clients[start : start + batch], fields)
        return found

    def _chunk(
        self, version: str, chunk: list[str], fields: tuple[str, ...]
    ) -> dict[str, dict[str, Any]]:
        """One round trip of :meth:`fields_of`, with the chunk's assignments when the
        manager is asked for (as :meth:`get` reads it)."""
        assert self.redis is not None
        pipe = self.redis.pipeline(transaction=False)
        for client in chunk:
            pipe.hmget(f"features:{version}:{client}", list(fields))
        if "manager" in fields:
            pipe.hmget(ASSIGNED, chunk)
        replies = pipe.execute()
        assigned = replies.pop() if "manager" in fields else [None] * len(chunk)
        found: dict[str, dict[str, Any]] = {}
        for client, values, name in zip(chunk, replies, assigned, strict=True):
            if any(v is not None for v in values):
                pairs = zip(fields, values, strict=True)
                found[client] = {f: None if v is None else orjson.loads(v) for f, v in pairs}
                if name is not None:
                    found[client]["manager"] = _text(name) or None
        return found

    def forget(self, client: str) -> int:
        """Remove ``client``'s features from every materialised version, and their
        manager's index entries and assignment; how many versions held them."""
        if self.redis is None:
            self._managers.forget(client)
            return sum(rows.pop(client, None) is not None for rows in self._memory.values())
        pattern = f"features:*:{_escaped(client)}"
        found = [k for k in self.redis.scan_iter(match=pattern, count=1000) if _text(k) != _CURRENT]
        self._scripts["forget"](keys=[ASSIGNED], args=[client])
        if not found:
            return 0
        managers.unindex(self.redis, client, [_text(k) for k in found])
        return int(self.redis.delete(*found))


def _escaped(text: str) -> str:
    """``text`` with the glob characters of a Redis MATCH pattern escaped."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _text(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key
