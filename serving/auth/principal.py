"""Who is asking: a key, a signed-in person, a loopback caller, or anyone.

Scopes guard the API (``read``, ``events``, ``catalogue``, ``admin``; ``admin``
includes every other); roles guard the CRM pages (manager < analyst < admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ALL_SCOPES", "ROLE_RANK", "Principal", "role_scopes"]

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
        if self.role is None:
            return self.kind in ("local", "open")  # no people configured: the demo's access
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def author(self) -> str:
        """How outcomes and the audit log name this caller: ``user:ann``, ``key:crm``."""
        return f"{self.kind}:{self.name}" if self.kind in ("user", "key") else self.kind


def role_scopes(role: str) -> frozenset[str]:
    """The API scopes a person of ``role`` acts with through the pages."""
    return ALL_SCOPES if role == "admin" else frozenset({"read", "events"})
