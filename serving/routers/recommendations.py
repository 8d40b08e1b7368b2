"""``/v1/clients/{id}/recommendations`` and ``/v1/baskets/recommendations``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from recsys.ranking import MAX_K, RankedItem, RequestOptions
from serving.deps import Context, Ctx, Reader
from serving.fastpath import cache_key
from serving.schemas import BasketRequest, Recommendations

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[Reader])

ClientId = Annotated[str, Path(min_length=1, max_length=128)]
_inflight: dict[str, asyncio.Future[bytes]] = {}


def encode(body: Mapping[str, object]) -> bytes:
    """orjson, with numpy scalars and dataclasses (the reasons) handled."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


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


def list_body(client_id: str | None, version: str, items: list[RankedItem]) -> bytes:
    """The response bytes of a client's list (also what precompute stores)."""
    body = {"client_id": client_id, "model_version": version, "cached": False, "items": items}
    return encode(body)


async def _compute_once(key: str, work: Callable[[], Awaitable[bytes]]) -> bytes:
    """Concurrent misses for one key share one computation."""
    if key in _inflight:
        return await asyncio.shield(_inflight[key])
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
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


@router.get("/clients/{client_id}/recommendations", response_model=Recommendations)
async def for_client(
    request: Request,
    client_id: ClientId,
    ctx: Ctx,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    exclude_purchased: bool = True,
    category: Annotated[str | None, Query(max_length=128)] = None,
    exclude: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006 (FastAPI copies)
) -> Response:
    """Ranked, explained items for a client; unknown clients get the cold-start list."""
    current, cache = ctx.current, ctx.cache
    options = RequestOptions(exclude_purchased, tuple(exclude), (), category)
    # Hits are normally answered by serving.fastpath before routing; this is the
    # same lookup for requests that reach the router (e.g. Redis filled meanwhile).
    key = cache_key(current.version, client_id, request.scope["query_string"])
    cached = await cache.get(key)
    if cached is not None:
        return Response(
            cached.replace(b'"cached":false', b'"cached":true', 1), media_type="application/json"
        )
    recent = tuple(sorted(ctx.state.recent.get(client_id, ())))

    async def work() -> bytes:
        # Analyst rules may target segments and countries: the feature store knows them.
        profile = await client_profile(ctx, client_id)
        targeted = replace(
            options, segment=profile.get("segment"), country=profile.get("favourite_country")
        )
        # Ranking runs on the event loop: ~1-2 ms of numpy with the GIL held.
        # In the threadpool, dozens of threads fought over the GIL and served
        # 20× fewer requests than one thread doing them in turn.
        items = current.recommender.for_client(client_id, k, (), targeted, recent)
        body = list_body(client_id, current.version, items)
        await cache.set(key, client_id, body)
        return body

    return Response(await _compute_once(key, work), media_type="application/json")


@router.post("/baskets/recommendations", response_model=Recommendations)
async def for_basket(request: BasketRequest, ctx: Ctx) -> Response:
    """Complete a basket (not cached: baskets change with every click)."""
    current = ctx.current
    recent = tuple(sorted(ctx.state.recent.get(request.client_id or "", ())))
    items = current.recommender.for_client(  # on the loop: see for_client above
        request.client_id, request.k, tuple(request.items), None, recent
    )
    body = list_body(request.client_id, current.version, items)
    return Response(body, media_type="application/json")
