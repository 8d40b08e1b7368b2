"""A client's ranked list as response bytes: from the cache, or computed once and stored.

The router and the pre-routing fast path (:mod:`serving.fastpath`) both answer
``/v1/clients/{id}/recommendations`` through :func:`cached_list` and
:func:`compute_list`, so the two give the same bytes. What a list depends on
besides the bundle and the query is decided by :mod:`serving.ranked`, for requests
and for ``recsys precompute`` alike. Each list is stored under the client's
generation read before it was computed (:class:`serving.cache.ListCache`), so one
computed across an event is never stored after the event dropped the client's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import orjson
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from recsys.ranking import RankedItem, RequestOptions
from serving import ranked
from serving.cache import Generation
from serving.catalogue import STAMP, CatalogueState
from serving.deps import Context
from serving.impressions import listed, with_id
from serving.ranked import Arrivals, client_now, client_options, fill_arrivals, rank_list
from serving.state import Loaded

__all__ = [
    "FLAG_HEADERS",
    "ListJob",
    "Served",
    "arrivals_of",
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
    "stored_list",
]

#: A list's bytes as a later read answers them (replaced once, where it is stored).
_AS_CACHED = (b'"cached":false', b'"cached":true', 1)
#: The response header saying a list is stale or degraded (:mod:`serving.misses`).
FLAG_HEADERS = {
    "stale": (b"x-recommendation-stale", b"true"),
    "degraded": (b"x-recommendation-degraded", b"true"),
}


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
    degraded: bool = False,
) -> bytes:
    """The response bytes of a client's list; with the experiment and arm when one runs."""
    body: dict[str, object] = {"client_id": client_id, "model_version": version}
    if arm is not None:
        body["experiment"], body["arm"] = arm
    body["cached"] = False
    if degraded:
        body["degraded"] = True
    return encode(body | {"items": items})


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
    flag: str | None = None
    """``stale`` or ``degraded`` (:mod:`serving.misses`), else ``None``."""
    version: str | None = None
    """The model version that ranked it when not the served one (a stale list)."""


def arrivals_of(ctx: Context) -> Arrivals:
    """This service's new-arrivals inputs, now."""
    settings, catalogue = ctx.settings, ctx.catalogue
    return Arrivals(
        settings.new_arrivals_slots, catalogue.catalogue, ctx.state.bought_since, catalogue.clock()
    )


def stored_list(
    catalogue: CatalogueState,
    client_id: str,
    version: str,
    items: list[RankedItem],
    arm: Arm,
    at: tuple[int, float] | None = None,
) -> tuple[Served, bytes]:
    """A computed list as served now, and as stored (stamped, marked cached; ``at``:
    the catalogue's :meth:`~serving.catalogue.CatalogueState.mark` when ranking began,
    when it did not run in one go with storing)."""
    body, shown = list_body(client_id, version, items, arm), listed(items)
    return Served(body, shown, arm), catalogue.stamp(shown, at) + body.replace(*_AS_CACHED)


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
    items = _precomputed(ctx, found)  # precompute writes no arm's keys
    if items is None:
        return None
    body = list_body(items[0], ctx.current.version, items[1], arm)
    return Served(body.replace(*_AS_CACHED), listed(items[1]), arm)


def _precomputed(ctx: Context, found: bytes) -> tuple[str, list[RankedItem]] | None:
    """A precomputed ranking explained now, its new-arrivals slots filled now; ``None``
    when it may no longer be what a request computes (an item no longer offered, or
    the client bought or declined something since: the event dropped it, unless the
    two crossed)."""
    record = ranked.unpack(found)
    if record is None:
        return None
    current, who = ctx.current, client_now(ctx.state, ctx.outcomes, record.client)
    if who.client_id is None or who.eventful:
        return None
    profile = {"segment": record.segment, "favourite_country": record.country}
    items = ranked.explain(current, record, client_options(RequestOptions(), who, profile))
    if items is None:
        return None
    filled = fill_arrivals(current.recommender, who, items, record.k, arrivals_of(ctx))
    return record.client, filled


def listed_response(ctx: Context, served: Served, client_id: str | None, surface: str) -> Response:
    """:func:`respond` as a JSON response with the ``X-Recommendation-Id`` header."""
    body, recommendation_id = respond(ctx, served, client_id, surface)
    headers = {"X-Recommendation-Id": recommendation_id}
    if served.flag is not None:
        name, value = FLAG_HEADERS[served.flag]
        headers[name.decode()] = value.decode()
    return Response(body, media_type="application/json", headers=headers)


def respond(ctx: Context, served: Served, client_id: str | None, surface: str) -> tuple[bytes, str]:
    """The response bytes of a served list with a fresh ``recommendation_id`` (also
    returned, for the header), its impression queued."""
    version = served.version or (ctx.state.current.version if ctx.state.current else "")
    recommendation_id = ctx.impressions.shown(
        client_id, served.listed, version, surface, served.arm
    )
    return with_id(served.body, recommendation_id), recommendation_id


def known_client(ctx: Context, client_id: str | None) -> str | None:
    """``client_id``, or ``None`` for a deleted client (ranked as cold start)."""
    if client_id is None or ctx.state.is_forgotten(client_id):
        return None
    return client_id


async def client_profile(ctx: Context, client_id: str | None) -> dict[str, Any]:
    """The client's features from the online store (empty when unknown, with no store,
    or when the store does not answer: ranked without targeting, still 200)."""
    try:
        return await read_profile(ctx, client_id)
    except (RedisError, OSError):
        return {}


def profile_here(ctx: Context, client_id: str | None) -> dict[str, Any]:
    """:func:`client_profile` where nothing is awaited (no store, or one in process)."""
    if ctx.features is None or client_id is None:
        return {}
    return ctx.features.get(client_id) or {}


async def read_profile(ctx: Context, client_id: str | None) -> dict[str, Any]:
    """:func:`client_profile`, the store's errors the caller's."""
    if ctx.features is None or client_id is None or ctx.features.redis is None:
        return profile_here(ctx, client_id)  # an in-process dict: no I/O to wait for
    if ctx.live_profiles is not None:  # on the loop: no thread, no GIL hand-over
        return await ctx.live_profiles.get(client_id) or {}
    return await run_in_threadpool(ctx.features.get, client_id) or {}


class ListJob:
    """One missed list in three steps, so that only its ranking takes the event loop's
    turns: its reads (the client's generation and profile: started when it is queued),
    :meth:`rank` (CPU only, what :class:`serving.computing.ListQueue` times) and
    :meth:`store` (after its requests have it). Through Redis, reads and store inside
    the queued work counted as its cost and took the slices' time: the queue admitted
    fewer lists. In process (no Redis) nothing is awaited: :meth:`rank` reads and stores
    at once. A list ranked without the profile the store did not give in time is served,
    not stored (it would answer untargeted for the cache's lifetime)."""

    __slots__ = (
        "arm", "client_id", "ctx", "current", "generation", "k", "key", "options", "profile",
        "stored", "untargeted",
    )  # fmt: skip

    def __init__(self, ctx: Context, key: str, client_id: str, k: int, options: RequestOptions,
                 arm: Arm, current: Loaded | None) -> None:  # fmt: skip
        self.ctx, self.key, self.client_id, self.k = ctx, key, client_id, k
        self.options, self.arm, self.current = options, arm, current
        self.generation: Generation | None = None
        self.profile: dict[str, Any] = {}
        self.stored: bytes | None = None
        self.untargeted = False
        """Whether the feature store failed to answer (the list is then not stored)."""

    @property
    def reader(self) -> Callable[[], Awaitable[ListJob]] | None:
        """:meth:`read` where the reads wait on Redis; ``None`` where nothing would wait
        (:meth:`rank` reads at once: a read task per list cut the lists' slices short)."""
        features = self.ctx.features
        remote = features is not None and features.redis is not None
        return self.read if self.ctx.cache.redis is not None or remote else None

    @property
    def storer(self) -> Callable[[], Awaitable[None]] | None:
        """:meth:`store` where it waits on Redis; ``None`` in process (:meth:`rank`
        stores at once)."""
        return None if self.reader is None else self.store

    async def read(self) -> ListJob:
        """The generation (first: an event after it moves it, so the list is then not
        stored) and the client's profile (analyst rules may target segments and
        countries: the feature store knows them)."""
        self.generation = await self.ctx.cache.generation(self.client_id)
        try:
            self.profile = await read_profile(self.ctx, known_client(self.ctx, self.client_id))
        except (RedisError, OSError):  # ranked without targeting, served, not stored
            self.profile, self.untargeted = {}, True
        return self

    def rank(self) -> Served:
        """Rank and encode by :attr:`current` (what the key was made from; default what
        is served now), with what events changed until now: ~1 ms of numpy with the
        GIL held, on the loop (in the threadpool, dozens of threads fought over the GIL
        and served 20 × fewer)."""
        ctx, loaded = self.ctx, self.current or self.ctx.current
        who = client_now(ctx.state, ctx.outcomes, self.client_id)
        here = self.generation is None  # in process (no reader): nothing to wait for
        if here:
            self.generation = ctx.cache.generation_here(self.client_id)
            self.profile = profile_here(ctx, who.client_id)
        recommender = loaded.recommender_for(self.arm)
        ctx.catalogue.facts_for(recommender)
        # Deleted since the read: ranked as cold start, its features no longer read.
        profile = self.profile if who.client_id is not None else {}
        targeted = client_options(self.options, who, profile)
        items = rank_list(recommender, who, self.k, targeted, arrivals_of(ctx))
        served, self.stored = stored_list(
            ctx.catalogue, self.client_id, loaded.version, items, self.arm
        )
        if here and self.generation is not None:  # stored at once, as it was ranked
            ctx.cache.store_here(self.key, self.client_id, self.stored, self.generation)
            self.stored = None  # nothing left for :meth:`store`
        return served

    async def store(self) -> None:
        """Store the ranked list under the generation read first (refused if it moved)."""
        if self.stored is not None and self.generation is not None and not self.untargeted:
            await self.ctx.cache.store(self.key, self.client_id, self.stored, self.generation)


async def compute_list(
    ctx: Context,
    key: str,
    client_id: str,
    k: int,
    options: RequestOptions,
    arm: Arm = None,
    current: Loaded | None = None,
) -> Served:
    """Rank, encode and store one client's list, by ``current`` (what ``key`` was made
    from; default: what is served now), in one go (:class:`ListJob`). Concurrent
    misses of ``key`` under one generation of the client share it; an event meanwhile
    (a new generation) gets a list of its own, and the older one is not stored."""
    job = await ListJob(ctx, key, client_id, k, options, arm, current).read()

    async def work() -> Served:
        served = job.rank()
        await job.store()
        return served

    return await ctx.cache.inflight.once((key, job.generation), work)
