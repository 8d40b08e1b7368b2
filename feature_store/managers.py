"""Which clients each sales manager has: the feature table's ``manager``, and the
assignments made on the CRM screen over it.

The table's column is indexed per feature version (one set of clients per manager,
written with the version). An assignment is an override kept apart from every
version, so the next day's features do not undo what was assigned on the screen;
reads merge the two and the override wins. In Redis: the sets
``recsys:manager:{version}:{name}``, the hash ``recsys:manager-assigned`` (client →
name, ``""`` for "no manager") and one set ``recsys:manager-assigned:{name}`` per
manager, kept together by scripts so a reader never sees half an assignment.
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import redis
from redis.commands.core import Script

__all__ = [
    "ASSIGNED",
    "ASSIGN_SCRIPT",
    "CLIENTS_OF_SCRIPT",
    "FORGET_SCRIPT",
    "MemoryManagers",
    "by_manager",
    "index_key",
    "scripts",
    "unindex",
]

#: Client → assigned manager (``""``: assigned to nobody); ``ASSIGNED:{name}`` its sets.
ASSIGNED = "recsys:manager-assigned"

#: Move the client (ARGV[1]) to the manager ARGV[2] ("" = none), atomically.
ASSIGN_SCRIPT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and old ~= '' then redis.call('SREM', KEYS[1] .. ':' .. old, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[2] ~= '' then redis.call('SADD', KEYS[1] .. ':' .. ARGV[2], ARGV[1]) end
return 1
"""
#: The clients of manager ARGV[1]: assigned to them, or theirs in the current version
#: (KEYS[1] names it) and assigned to nobody else.
CLIENTS_OF_SCRIPT = """
local found = redis.call('SMEMBERS', KEYS[2] .. ':' .. ARGV[1])
local version = redis.call('GET', KEYS[1])
if not version then return found end
local theirs = redis.call('SMEMBERS', 'recsys:manager:' .. version .. ':' .. ARGV[1])
for _, client in ipairs(theirs) do
  if redis.call('HEXISTS', KEYS[2], client) == 0 then found[#found + 1] = client end
end
return found
"""
#: Drop the client's (ARGV[1]) assignment.
FORGET_SCRIPT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and old ~= '' then redis.call('SREM', KEYS[1] .. ':' .. old, ARGV[1]) end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""


def index_key(version: str, manager: str) -> str:
    """The Redis set of ``manager``'s clients in feature ``version``."""
    return f"recsys:manager:{version}:{manager}"


def by_manager(table: pd.DataFrame) -> dict[str, list[str]]:
    """Clients (the index) per manager of a feature table; none without the column."""
    if "manager" not in table:
        return {}
    names = table["manager"].where(table["manager"].notna(), "").astype(str).str.strip()
    named = names[names != ""]
    return {str(m): sorted(map(str, c)) for m, c in named.groupby(named).groups.items()}


def scripts(client: redis.Redis) -> dict[str, Script]:
    """The scripts above, registered on ``client``: ``assign``, ``clients_of``, ``forget``."""
    bodies = {"assign": ASSIGN_SCRIPT, "clients_of": CLIENTS_OF_SCRIPT, "forget": FORGET_SCRIPT}
    return {name: client.register_script(body) for name, body in bodies.items()}


def unindex(client: redis.Redis, who: str, keys: list[str]) -> None:
    """Take ``who`` out of the manager sets of the versions whose hashes are ``keys``
    (``features:{version}:{who}``): each hash names the manager it was indexed under."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "manager")
    names = pipe.execute()
    for key, name in zip(keys, names, strict=True):
        manager = None if name is None else orjson.loads(name)
        if manager:  # the version is what lies between "features:" and ":{who}"
            pipe.srem(index_key(key[len("features:") : -len(who) - 1], str(manager).strip()), who)
    pipe.execute()


class MemoryManagers:
    """The in-process index and assignments (the embedded store's)."""

    def __init__(self) -> None:
        self._index: dict[str, dict[str, set[str]]] = {}
        self._assigned: dict[str, str | None] = {}

    def publish(self, version: str, table: pd.DataFrame) -> None:
        """Index ``version``'s table."""
        self._index[version] = {m: set(c) for m, c in by_manager(table).items()}

    def assign(self, client: str, manager: str | None) -> None:
        """Give ``client`` to ``manager`` (``None``: to nobody)."""
        self._assigned[client] = manager

    def clients_of(self, version: str | None, manager: str) -> list[str]:
        """``manager``'s clients: assigned to them, or theirs in ``version`` and not
        assigned elsewhere."""
        listed = self._index.get(version or "", {}).get(manager, set())
        kept = {c for c in listed if c not in self._assigned}
        return sorted(kept | {c for c, m in self._assigned.items() if m == manager})

    def merged(self, client: str, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` (a client's decoded features) with their assignment, if any."""
        if not row or client not in self._assigned:
            return row
        return {**row, "manager": self._assigned[client]}

    def forget(self, client: str) -> None:
        """Drop ``client`` from every index and their assignment."""
        self._assigned.pop(client, None)
        for managers in self._index.values():
            for clients in managers.values():
                clients.discard(client)
