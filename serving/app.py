"""``create_app()``: the FastAPI application, its lifespan and its routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from functools import partial

import pandas as pd
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from feature_store import OnlineStore
from serving.auth.keyring import KeyRing
from serving.auth.sessions import Sessions
from serving.cache import ListCache
from serving.campaigns import CampaignBook
from serving.catalogue import CatalogueState
from serving.deps import Context
from serving.errors import install_error_handlers
from serving.event_store import EventStore
from serving.fastpath import CachedLists, Service
from serving.impressions import Impressions
from serving.limits import BodyLimit, RateLimit, Windows
from serving.metrics import Metrics
from serving.outcomes import OutcomeState
from serving.privacy import FORGET, forgotten_elsewhere, load_tombstones
from serving.profiles import LiveProfiles
from serving.routers import audience as audience_routes
from serving.routers import (
    campaign_pages,
    campaigns,
    clients,
    cross_sell,
    events,
    health,
    items,
    offers,
    recommendations,
    sign_in,
    ui,
)
from serving.routers import (
    catalogue as catalogue_routes,
)
from serving.routers import outcomes as outcome_routes
from serving.routers.sign_in import PageRefused, refused_page
from serving.settings import ServingSettings
from serving.state import ServiceState
from serving.stream import StreamEventStore, follow, start_after, stream_client
from serving.trail import AuditTrail
from serving.untrained import rebase, reload, reread
from serving.warm import warm

__all__ = ["create_app"]

log = logging.getLogger("recsys.serving")


async def _watch(context: Context, every: float) -> None:
    """Hot reload: look for a newly promoted bundle; warm it and swap it in when it
    loads, then hold as bought since training what the new bundle did not learn. Reread
    the experiments file when it changed."""
    state, prepare = context.state, partial(warm, context)
    while True:
        await asyncio.sleep(every)
        try:
            if await asyncio.to_thread(state.changed):  # may ask MLflow: off the loop
                await reload(state, context.events, prepare)
            else:
                await reread(state)
        except Exception:  # a failed look must not end the watching: try again next time
            log.exception("looking for a new bundle failed")


async def _replay(store: StreamEventStore, every: float = 1.0) -> None:
    """Move events kept locally while Redis was down into the stream once it answers."""
    while True:
        await asyncio.sleep(every)
        path = store.pending.path
        if path.exists() and path.stat().st_size:
            await store.replay()


def _background(context: Context) -> list[asyncio.Task[None]]:
    """The tasks a replica runs beside requests: hot reload, and with Redis, following
    every replica's events and replaying events kept locally."""
    settings, state, tasks = context.settings, context.state, []
    if settings.reload_interval_seconds > 0:
        tasks.append(asyncio.create_task(_watch(context, settings.reload_interval_seconds)))
    store = context.events
    if isinstance(store, StreamEventStore):

        async def apply(event: dict[str, object]) -> None:
            if event.get("type") == FORGET:
                await forgotten_elsewhere(context, event)
                return
            client = str(event["client_id"])
            if event.get("type", "purchase") == "purchase":
                state.remember(client, str(event["item_id"]))
            await context.cache.drop_client(client)

        trained = state.current.bundle if state.current else None
        start = start_after(trained.events_position, trained.created_at) if trained else "0-0"
        tasks.append(asyncio.create_task(follow(store.redis, store.stream, apply, start)))
        tasks.append(asyncio.create_task(_replay(store)))
    return tasks


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: Context = app.state.context
    # One request's ranking is a few hundred µs-sized numpy calls: BLAS threads
    # only spin between them, taking a core from the server.
    blas = threadpool_limits(limits=1)
    await asyncio.to_thread(context.state.reload)  # not ready (503) until a bundle loads
    start = await context.catalogue.open()  # availability holds from the first request
    await load_tombstones(context)
    if not isinstance(context.events, StreamEventStore):  # Redis: the follower does this
        await rebase(context.state, context.events)
    gc.collect()  # as after a bundle loads: the catalogue lives long, keep it out of
    gc.freeze()  # the collector's full passes
    await context.keys.refresh()  # a broken access file stops the start, said at once
    app.state.sessions = await Sessions(context.settings, context.keys.redis).open()
    tasks = _background(context)
    tasks.append(asyncio.create_task(context.keys.run(context.settings.access_reload_seconds)))
    if context.catalogue.redis is not None:
        tasks.append(asyncio.create_task(context.catalogue.follow(start)))
    tasks.append(asyncio.create_task(context.impressions.run()))
    await context.outcomes.open()
    if context.outcomes.redis is not None:
        follower = context.outcomes.follow(context.cache.drop_client)
        tasks.append(asyncio.create_task(follower))
    yield
    for task in tasks:
        task.cancel()
    # Bounded: a background task that swallowed its cancel must not hold the shutdown.
    done, stuck = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
    for task in stuck:
        log.warning("background task did not stop: %r", task)
    for task in done:  # retrieved, so a task that had failed is said, not lost
        if not task.cancelled() and task.exception() is not None:
            log.error("background task had failed: %r", task.exception())
    await context.impressions.close()
    if context.outcomes.redis is not None:
        await context.outcomes.redis.aclose()
    if context.impressions.redis is not None:
        await context.impressions.redis.aclose()
    await context.cache.close()
    stream = context.audit.stream
    for held in (context.keys.redis, stream.client if stream is not None else None):
        if held is not None:
            await held.aclose()
    if context.catalogue.redis is not None:
        await context.catalogue.redis.aclose()
    if isinstance(context.events, StreamEventStore):
        await context.events.redis.aclose()
    blas.restore_original_limits()


class _Measured:
    """Adapter so ``add_middleware`` can wrap the app with :meth:`Metrics.asgi`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.handler = metrics.asgi(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def open_features(settings: ServingSettings) -> OnlineStore | None:
    """The client feature store the settings name (see ``features_path``)."""
    if settings.features_path is not None:
        store = OnlineStore(None)
        store.materialise(pd.read_parquet(settings.features_path), settings.features_path.stem)
        return store
    return OnlineStore(settings.redis_url) if settings.redis_url else None


def open_events(settings: ServingSettings) -> EventStore | StreamEventStore:
    """Accepted events: the Redis stream shared by replicas when Redis is configured
    (``events_path`` then keeps only what Redis could not take), else the local file."""
    if settings.redis_url is None:
        return EventStore(settings.events_path)
    return StreamEventStore(
        stream_client(settings.redis_url), settings.events_stream, settings.events_path
    )


def open_keys(settings: ServingSettings) -> KeyRing:
    """The keys and users the settings name: the two legacy keys, the access file,
    and with Redis the shared access hashes."""
    legacy = {
        name: (secret.get_secret_value(), scopes)
        for name, secret, scopes in (
            ("read_api_key", settings.read_api_key, {"read"}),
            ("admin_api_key", settings.admin_api_key, {"admin"}),
        )
        if secret is not None
    }
    redis = stream_client(settings.redis_url) if settings.redis_url else None
    return KeyRing(legacy, settings.access_path, redis)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the service; settings come from ``RECSYS_*`` unless given."""
    settings = settings or ServingSettings()
    app = Service(
        title="recsys",
        version="1",
        summary="Ranked, explained recommendations and next-best offers",
        lifespan=_lifespan,
        # /metrics is ours (Prometheus); FastAPI's OpenTelemetry hook would look up
        # the global providers (and the environment) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    cache = ListCache(
        settings.redis_url,
        settings.cache_ttl_seconds,
        settings.local_cache_size,
        settings.compute_backlog,
    )
    store = open_events(settings)
    features = open_features(settings)
    windows = None
    if settings.rate_limit_per_minute is not None:
        windows = Windows(settings.rate_limit_per_minute, cache.redis)
    catalogue = CatalogueState(
        settings.catalogue_path,
        stream_client(settings.redis_url) if settings.redis_url else None,
        settings.today,
    )
    state = ServiceState(settings, today=catalogue.today)  # one clock for every "today"
    shown = Impressions(
        settings.impressions_path,
        stream_client(settings.redis_url) if settings.redis_url else None,
        settings.impressions_stream,
        enabled=settings.log_impressions,
    )
    outcomes = OutcomeState(
        settings.outcomes_path,
        stream_client(settings.redis_url) if settings.redis_url else None,
        timedelta(days=settings.outcome_cooldown_days),
        settings.today,
    )
    keys = open_keys(settings)
    trail = AuditTrail(
        settings.audit_path, stream_client(settings.redis_url) if settings.redis_url else None
    )
    context = Context(
        settings, state, cache, store, Metrics(), catalogue, shown, outcomes, keys, trail
    )
    live = None
    if features is not None and features.redis is not None and cache.redis is not None:
        live = LiveProfiles(cache.redis)
    context = replace(context, features=features, windows=windows, live_profiles=live)
    app.state.context = context
    app.state.campaigns = CampaignBook(settings.campaigns_path)
    limit = None
    if windows is not None:
        app.add_middleware(RateLimit, windows=windows, keys=keys)
        limit = RateLimit(app, windows, keys)  # its counting, shared by the front door
    cross_origin = bool(settings.cors_origins)
    app.front = partial(CachedLists, context=context, limit=limit, cross_origin=cross_origin)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(_Measured, metrics=context.metrics)  # outermost: times hits too
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    routers = [recommendations, offers, items, catalogue_routes, clients, events, cross_sell]
    routers += [outcome_routes, audience_routes, campaigns, health, ui, campaign_pages, sign_in]
    for router in (module.router for module in routers):
        app.include_router(router)
    install_error_handlers(app)
    app.add_exception_handler(PageRefused, refused_page)
    return app
