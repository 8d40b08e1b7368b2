"""Dependencies injected into the routers, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from serving.cache import ListCache
from serving.event_store import EventStore
from serving.metrics import Metrics
from serving.settings import ServingSettings
from serving.state import Loaded, ServiceState

__all__ = ["Admin", "Cache", "Current", "Events", "Reader", "Settings", "State", "Telemetry"]


def _settings(request: Request) -> ServingSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


def _current(state: Annotated[ServiceState, Depends(_state)]) -> Loaded:
    if state.current is None:
        raise HTTPException(503, "no model loaded yet")
    return state.current


def _cache(request: Request) -> ListCache:
    return request.app.state.cache  # type: ignore[no-any-return]


def _events(request: Request) -> EventStore:
    return request.app.state.events  # type: ignore[no-any-return]


def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def _matches(given: str | None, *keys: object) -> bool:
    secrets = [k.get_secret_value() for k in keys if k is not None]  # type: ignore[attr-defined]
    return given is not None and any(hmac.compare_digest(given, s) for s in secrets)


def _reader(
    settings: Annotated[ServingSettings, Depends(_settings)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    if settings.read_api_key is None:
        return
    if x_api_key is None:
        raise HTTPException(401, "X-API-Key header required")
    if not _matches(x_api_key, settings.read_api_key, settings.admin_api_key):
        raise HTTPException(403, "X-API-Key not valid here")


def _admin(
    settings: Annotated[ServingSettings, Depends(_settings)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    if settings.admin_api_key is None:
        return
    if x_api_key is None:
        raise HTTPException(401, "X-API-Key header required")
    if not _matches(x_api_key, settings.admin_api_key):
        raise HTTPException(403, "this route needs the admin key")


Settings = Annotated[ServingSettings, Depends(_settings)]
State = Annotated[ServiceState, Depends(_state)]
Current = Annotated[Loaded, Depends(_current)]
Cache = Annotated[ListCache, Depends(_cache)]
Events = Annotated[EventStore, Depends(_events)]
Telemetry = Annotated[Metrics, Depends(_metrics)]
Reader = Depends(_reader)
Admin = Depends(_admin)
