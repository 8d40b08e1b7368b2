"""Dependencies injected into the routers, as ``Annotated`` aliases.

Kept to a single ``Request``-only dependency per concern: this FastAPI version
spends ~10 µs resolving each parameter, which matters on the cached path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import StringConstraints

from feature_store import OnlineStore
from recsys.catalogue import ItemFilter
from serving.auth.access import scoped
from serving.auth.keyring import KeyRing
from serving.auth.principal import Principal
from serving.cache import ListCache
from serving.catalogue import CatalogueState
from serving.event_store import EventStore
from serving.impressions import Impressions, Surface
from serving.limits import Windows
from serving.metrics import Metrics
from serving.outcomes import OutcomeState
from serving.profiles import LiveProfiles
from serving.schemas import MAX_ID, MAX_IDS
from serving.settings import ServingSettings
from serving.state import Loaded, ServiceState
from serving.stream import StreamEventStore
from serving.trail import AuditTrail, Record

__all__ = [
    "Admin",
    "AdminRecord",
    "Caller",
    "CatalogueRecord",
    "CatalogueWriter",
    "Context",
    "Ctx",
    "EventWriter",
    "Filters",
    "Reader",
    "SurfaceHeader",
]


@dataclass(frozen=True)
class Context:
    """Everything a request handler may need, built once per app."""

    settings: ServingSettings
    state: ServiceState
    cache: ListCache
    events: EventStore | StreamEventStore
    metrics: Metrics
    catalogue: CatalogueState
    impressions: Impressions
    outcomes: OutcomeState
    keys: KeyRing
    audit: AuditTrail
    features: OnlineStore | None = None
    windows: Windows | None = None
    live_profiles: LiveProfiles | None = None
    """The Redis feature store's reads on the event loop (with Redis only)."""

    @property
    def current(self) -> Loaded:
        """The served bundle, its item facts brought up to the catalogue; 503 before
        the first one loads."""
        current = self.state.current
        if current is None:
            raise HTTPException(503, "no model loaded yet")
        self.catalogue.facts_for(current.recommender)
        return current


async def _context(request: Request) -> Context:
    return request.app.state.context  # type: ignore[no-any-return]


Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]


async def _filters(
    category: Annotated[
        list[Label], Query(max_length=MAX_IDS, description="Only these categories (repeatable).")
    ] = [],  # noqa: B006 (FastAPI copies)
    price_min: Annotated[
        float | None, Query(ge=0, allow_inf_nan=False, description="Lowest price.")
    ] = None,
    price_max: Annotated[
        float | None, Query(ge=0, allow_inf_nan=False, description="Highest price.")
    ] = None,
    tags: Annotated[
        list[Label], Query(max_length=MAX_IDS, description="Any of these tags (repeatable).")
    ] = [],  # noqa: B006
) -> ItemFilter:
    """The item filters of a list route (catalogue facts; unknown prices fail a price
    filter)."""
    return ItemFilter(tuple(category), price_min, price_max, tuple(tags))


Ctx = Annotated[Context, Depends(_context)]
SurfaceHeader = Annotated[
    Surface, Header(description="Where the list is shown (logged with its impression).")
]
Filters = Annotated[ItemFilter, Depends(_filters)]
_events = scoped("events")
Reader = Depends(scoped("read"))
EventWriter = Depends(_events)
CatalogueWriter = Depends(scoped("catalogue"))
Admin = Depends(scoped("admin"))
Caller = Annotated[Principal, Depends(_events)]
"""Who records an outcome or sends events (the dependency is shared, so it runs once)."""


def _recorder(scope: str) -> Callable[..., Awaitable[Record]]:
    guard = scoped(scope)

    # A default, not Annotated: the annotation is a string here (``guard`` is local).
    async def recorder(request: Request, who: Principal = Depends(guard)) -> Record:
        return request.app.state.context.audit.for_request(who, request)  # type: ignore[no-any-return]

    return recorder


AdminRecord = Annotated[Record, Depends(_recorder("admin"))]
"""Guards an admin route and records its action in the audit log."""
CatalogueRecord = Annotated[Record, Depends(_recorder("catalogue"))]
"""Guards a catalogue change and records it in the audit log."""
