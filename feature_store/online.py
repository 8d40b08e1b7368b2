"""The online store: one hash per client and feature version, in Redis or in process.

Reading one client is one round trip (a pipelined GET of the current version
and HGETALL of its hash).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import redis

__all__ = ["OnlineStore"]

_CURRENT = "features:current"
#: GET the current version and HGETALL that version's hash in one round trip.
_READ = """
local version = redis.call('GET', KEYS[1])
if not version then return {} end
return redis.call('HGETALL', 'features:' .. version .. ':' .. ARGV[1])
"""


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
        self._read = self.redis.register_script(_READ) if self.redis is not None else None
        self._memory: dict[str, dict[str, dict[str, bytes]]] = {}
        self._version: str | None = None

    def materialise(self, table: pd.DataFrame, version: str, batch: int = 1000) -> int:
        """Write every client's row under ``version``, then make it current."""
        rows = {str(client): _row_fields(row) for client, row in table.iterrows()}
        if self.redis is None:
            self._memory[version], self._version = rows, version
            return len(rows)
        pipe = self.redis.pipeline(transaction=False)
        for n, (client, fields) in enumerate(rows.items(), start=1):
            pipe.hset(f"features:{version}:{client}", mapping=fields)  # type: ignore[arg-type]
            if n % batch == 0:
                pipe.execute()
        pipe.set(_CURRENT, version)
        pipe.execute()
        return len(rows)

    def at_risk(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Clients flagged ``churn_risk``, highest net spend first (in-process store only)."""
        rows = self._memory.get(self._version or "", {})
        risky = [
            (c, {k: orjson.loads(v) for k, v in f.items()})
            for c, f in rows.items()
            if orjson.loads(f["churn_risk"])
        ]
        return sorted(risky, key=lambda r: -(r[1].get("monetary") or 0.0))[:limit]

    def get(self, client: str) -> dict[str, Any] | None:
        """The current features of ``client``; ``None`` for an unknown client."""
        if self._read is None:
            fields = self._memory.get(self._version or "", {}).get(client) or {}
            return {k: orjson.loads(v) for k, v in fields.items()} or None
        flat = self._read(keys=[_CURRENT], args=[client])
        pairs = zip(flat[0::2], flat[1::2], strict=True)
        return {_text(k): orjson.loads(v) for k, v in pairs} or None

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
            chunk = clients[start : start + batch]
            pipe = self.redis.pipeline(transaction=False)
            for client in chunk:
                pipe.hmget(f"features:{_text(version)}:{client}", list(fields))
            for client, values in zip(chunk, pipe.execute(), strict=True):
                if any(v is not None for v in values):
                    pairs = zip(fields, values, strict=True)
                    found[client] = {f: None if v is None else orjson.loads(v) for f, v in pairs}
        return found

    def forget(self, client: str) -> int:
        """Remove ``client``'s features from every materialised version; how many."""
        if self.redis is None:
            return sum(rows.pop(client, None) is not None for rows in self._memory.values())
        found = list(self.redis.scan_iter(match=f"features:*:{_escaped(client)}", count=1000))
        return int(self.redis.delete(*found)) if found else 0


def _escaped(text: str) -> str:
    """``text`` with the glob characters of a Redis MATCH pattern escaped."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _text(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key
