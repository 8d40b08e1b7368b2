"""A client's ranked list as response bytes: from the cache, or computed once and stored.

The router and the pre-routing fast path (:mod:`serving.fastpath`) both answer
``/v1/clients/{id}/recommendations`` through :func:`cached_list` and
:func:`compute_list`, so the two give the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

import orjson
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from recsys.ranking import HybridRecommender, RankedItem, RequestOptions, new_items
from serving import ranked
from serving.catalogue import STAMP
from serving.deps import Context
from serving.impressions import listed, with_id
from serving.state import Loaded

__all__ = [
    "Served",
    "cache_key",
    "cached_list",
    "client_profile",
    "compute_list",
    "encode",
    "known_client",
    "list_body",
    "list_key",
    "listed_response",
    "respond",
    "with_arrivals",
]

_inflight: dict[str, asyncio.Future[Served]] = {}
#: A list's bytes as a later read answers them (replaced once, where it is stored).
_AS_CACHED = (b'"cached":false', b'"cached":true', 1)


def cache_key(version: str, client: str, raw_query: bytes) -> str:
    """The cache key of one client's list under one model and one query string."""
    return f"rec:{version}:{client}:{raw_query.decode('latin-1')}"


def encode(body: Mapping[str, object]) -> bytes:
    """orjson, with numpy scalars, dataclasses (the reasons) and pydantic models."""
    return orjson.dumps(body, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def list_body(
    client_id: str | None,
    version: str,
    items: list[RankedItem],
    arm: tuple[str, str] | None = None,
) -> bytes:
    """The response bytes of a client's list (also what precompute stores); with the
    experiment and arm when one runs."""
    body: dict[str, object] = {"client_id": client_id, "model_version": version}
    if arm is not None:
        body["experiment"], body["arm"] = arm
    return encode(body | {"cached": False, "items": items})


def list_key(current: Loaded, client: str, raw_query: bytes, arm: Arm) -> str:
    """The cache key of a client's list: its arm too while an experiment runs."""
    version = current.cache_version if arm is None else f"{current.cache_version}.{arm[1]}"
    return cache_key(version, client, raw_query)


Arm = tuple[str, str] | None
"""(experiment, arm) of a request, computed once per request (``Loaded.arm_of``)."""


class Served(NamedTuple):
    """A list as bytes, its items (:func:`serving.impressions.listed`) and its arm."""

    body: bytes
    listed: bytes
    arm: Arm = None


async def cached_list(ctx: Context, key: str, arm: Arm = None) -> Served | None:
    """The stored list under ``key``, marked ``"cached": true``; ``None`` on a miss,
    and when the list holds an item the catalogue changed since it was stored (out of
    stock, deleted, window closed, retitled): then it is computed again. A
    precomputed ranking (:mod:`serving.ranked`) is explained now, from the bundle."""
    found = await ctx.cache.get(key)
    if found is None:
        return None
    if found[:1] == STAMP:  # stored already marked "cached": true
        fresh = ctx.catalogue.fresh(found)
        return None if fresh is None else Served(fresh[1], fresh[0], arm)
    if found[:1] != ranked.MARK:  # a format this version does not write: compute again
        return None
    client_id, items = ranked.render(ctx.current, found)
    if items is None:  # it lists an item that may no longer be offered
        return None
    body = list_body(client_id, ctx.current.version, items, arm)
    return Served(body.replace(*_AS_CACHED), listed(items), arm)


def listed_response(ctx: Context, served: Served, client_id: str | None, surface: str) -> Response:
    """:func:`respond` as a JSON response with the ``X-Recommendation-Id`` header."""
    body, recommendation_id = respond(ctx, served, client_id, surface)
    headers = {"X-Recommendation-Id": recommendation_id}
    return Response(body, media_type="application/json", headers=headers)


def respond(ctx: Context, served: Served, client_id: str | None, surface: str) -> tuple[bytes, str]:
    """The response bytes of a served list with a fresh ``recommendation_id`` (also
    returned, for the header), its impression queued."""
    version = ctx.state.current.version if ctx.state.current is not None else ""
    recommendation_id = ctx.impressions.shown(
        client_id, served.listed, version, surface, served.arm
    )
    return with_id(served.body, recommendation_id), recommendation_id


def with_arrivals(
    ctx: Context,
    recommender: HybridRecommender,
    client_id: str | None,
    recent: tuple[str, ...],
    items: list[RankedItem],
    k: int,
) -> list[RankedItem]:
    """``items`` with the new-arrivals slots filled (new catalogue items of the
    client's favourite categories), when the settings give any."""
    slots = ctx.settings.new_arrivals_slots
    if not slots or not recommender.facts.unknown:
        return items
    favourites = recommender.favourite_categories(client_id, recent)
    if not favourites:
        return items
    found = new_items.arrivals(
        ctx.catalogue.catalogue,
        recommender.facts,
        favourites,
        slots,
        ctx.state.bought_since,
        ctx.catalogue.clock(),
    )
    return new_items.with_arrivals(items, [a for a in found if a.item_id not in recent], k, slots)


def known_client(ctx: Context, client_id: str | None) -> str | None:
    """``client_id``, or ``None`` for a deleted client (ranked as cold start)."""
    if client_id is None or ctx.state.is_forgotten(client_id):
        return None
    return client_id


async def client_profile(ctx: Context, client_id: str | None) -> dict[str, Any]:
    """The client's features from the online store (empty when unknown or no store)."""
    if ctx.features is None or client_id is None:
        return {}
    if ctx.features.redis is None:  # an in-process dict: no I/O to wait for
        return ctx.features.get(client_id) or {}
    try:
        return await run_in_threadpool(ctx.features.get, client_id) or {}
    except (RedisError, OSError):  # Redis down: rank without targeting, still 200
        return {}


async def compute_list(
    ctx: Context, key: str, client_id: str, k: int, options: RequestOptions, arm: Arm = None
) -> Served:
    """Rank, encode and store one client's list; concurrent misses of ``key`` share it."""
    current = ctx.current
    known = known_client(ctx, client_id)
    recent = tuple(sorted(ctx.state.recent.get(client_id, ()))) if known else ()
    options = replace(options, exclude=options.exclude + ctx.outcomes.held_back(known))

    async def work() -> Served:
        # Analyst rules may target segments and countries: the feature store knows them.
        profile = await client_profile(ctx, known)
        targeted = replace(
            options, segment=profile.get("segment"), country=profile.get("favourite_country")
        )
        # Ranking runs on the event loop: ~1 ms of numpy with the GIL held. In the
        # threadpool, dozens of threads fought over the GIL and served 20× fewer.
        recommender = current.recommender_for(arm)
        ctx.catalogue.facts_for(recommender)
        items = recommender.for_client(known, k, (), targeted, recent)
        if not options.only:  # a filtered list holds what its filters ask for, no more
            items = with_arrivals(ctx, recommender, known, recent, items, k)
        body, shown = list_body(client_id, current.version, items, arm), listed(items)
        await ctx.cache.set(key, client_id, ctx.catalogue.stamp(shown) + body.replace(*_AS_CACHED))
        return Served(body, shown, arm)

    return await _compute_once(key, work)


async def _compute_once(key: str, work: Callable[[], Awaitable[Served]]) -> Served:
    """Concurrent misses for one key share one computation."""
    if key in _inflight:
        return await asyncio.shield(_inflight[key])
    future: asyncio.Future[Served] = asyncio.get_running_loop().create_future()
    _inflight[key] = future
    try:
        body = await work()
        future.set_result(body)
        return body
    except BaseException as error:
        future.set_exception(error)
        future.exception()  # retrieved: no "never retrieved" warning
        raise
    finally:
        _inflight.pop(key, None)
