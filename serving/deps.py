"""Dependencies injected into the routers, as ``Annotated`` aliases.

Kept to a single ``Request``-only dependency per concern: this FastAPI version
spends ~10 µs resolving each parameter, which matters on the cached path.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import SecretStr, StringConstraints

from feature_store import OnlineStore
from recsys.catalogue import ItemFilter
from serving.cache import ListCache
from serving.catalogue import CatalogueState
from serving.event_store import EventStore
from serving.impressions import Impressions, Surface
from serving.limits import Windows
from serving.metrics import Metrics
from serving.outcomes import OutcomeState
from serving.schemas import MAX_ID, MAX_IDS
from serving.settings import ServingSettings
from serving.state import Loaded, ServiceState
from serving.stream import StreamEventStore

__all__ = ["Admin", "Context", "Ctx", "Filters", "Reader", "SurfaceHeader", "authorised"]


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
    features: OnlineStore | None = None
    windows: Windows | None = None

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


def _matches(given: str, keys: tuple[SecretStr | None, ...]) -> bool:  # constant time
    return any(k is not None and hmac.compare_digest(given, k.get_secret_value()) for k in keys)


def _check(
    request: Request, needed: SecretStr | None, accepted: tuple[SecretStr | None, ...]
) -> None:
    if needed is None:
        return
    given = request.headers.get("x-api-key")
    if given is None:
        raise HTTPException(401, "X-API-Key header required")
    if not _matches(given, accepted):
        raise HTTPException(403, "X-API-Key not valid for this route")


def authorised(settings: ServingSettings, given: bytes | None) -> bool:
    """Whether a raw ``X-API-Key`` value may read (the fast path's check)."""
    if settings.read_api_key is None:
        return True
    keys = (settings.read_api_key, settings.admin_api_key)
    return given is not None and _matches(given.decode("latin-1"), keys)


async def _reader(request: Request) -> None:
    settings: ServingSettings = request.app.state.context.settings
    _check(request, settings.read_api_key, (settings.read_api_key, settings.admin_api_key))


async def _admin(request: Request) -> None:
    settings: ServingSettings = request.app.state.context.settings
    _check(request, settings.admin_api_key, (settings.admin_api_key,))


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
Reader = Depends(_reader)
Admin = Depends(_admin)
