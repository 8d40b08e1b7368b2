"""Who is asking: a key, a signed-in person, a loopback caller, or anyone.

Scopes guard the API (``read``, ``events``, ``catalogue``, ``admin``; ``admin``
includes every other); roles guard the CRM pages (manager < analyst < admin).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = ["ALL_SCOPES", "ROLE_RANK", "Principal", "role_scopes", "uncarried"]

ALL_SCOPES = frozenset({"read", "events", "catalogue", "admin"})

#: Page roles in order: each sees what the ones before it see.
ROLE_RANK = {"manager": 0, "analyst": 1, "admin": 2}

Kind = Literal["key", "user", "local", "open"]


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the audit log and outcomes name it."""

    name: str
    """The key's or user's name; ``local`` for loopback, ``anonymous`` when open."""
    kind: Kind
    scopes: frozenset[str]
    role: str | None = None
    """The page role of a person (keys have none)."""

    def allows(self, scope: str) -> bool:
        """Whether this caller may use a route of ``scope``."""
        return "admin" in self.scopes or scope in self.scopes

    def at_least(self, role: str) -> bool:
        """Whether this caller may open a page meant for ``role``."""
        if self.role is None:  # no people configured: loopback or open access
            needed = "admin" if role == "admin" else "read"
            return self.kind in ("local", "open") and self.allows(needed)
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def author(self) -> str:
        """How outcomes and the audit log name this caller: ``user:ann``, ``key:crm``."""
        return f"{self.kind}:{self.name}" if self.kind in ("user", "key") else self.kind


class _Carried(Protocol):
    def carried(self, scope: str) -> bool: ...


def uncarried(caller: Principal, known: _Carried) -> Principal:
    """``caller`` with only the scopes no API key carries (those need a key)."""
    carried = {s for s in ALL_SCOPES if known.carried(s)}
    if carried:  # admin implies every scope, a carried one too
        carried.add("admin")
    return replace(caller, scopes=caller.scopes - carried)


def role_scopes(role: str) -> frozenset[str]:
    """The API scopes a person of ``role`` acts with through the pages."""
    return ALL_SCOPES if role == "admin" else frozenset({"read", "events"})
