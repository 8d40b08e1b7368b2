"""``/v1/clients/{id}/recommendations`` and ``/v1/baskets/recommendations``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from recsys.ranking import MAX_K, RequestOptions
from serving.deps import Ctx, Filters, Reader, SurfaceHeader
from serving.drift import count_client, count_items
from serving.impressions import listed
from serving.lists import (
    Served,
    cached_list,
    known_client,
    list_body,
    list_key,
    listed_response,
)
from serving.misses import answer_miss
from serving.schemas import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    MAX_ID,
    MAX_IDS,
    BasketRequest,
    Recommendations,
)

router = APIRouter(
    prefix="/v1", tags=["recommendations"], dependencies=[Reader], responses=AUTH_RESPONSES
)

ClientId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]

Mode = Literal["mixed", "repeat", "explore"]
MODE = (
    "mixed: as exclude_purchased says; repeat: bought items only (buy it again, whatever "
    "exclude_purchased says); explore: new items only."
)


def _with_mode(options: RequestOptions, mode: Mode) -> RequestOptions:
    """The options of ``mode``: ``repeat`` lists bought items whatever
    ``exclude_purchased`` says (the shelf is nothing else), ``explore`` new ones."""
    if mode == "explore":
        return replace(options, exclude_purchased=True)
    if mode == "repeat":
        return replace(options, exclude_purchased=False, bought_only=True)
    return options


@router.get("/clients/{client_id}/recommendations", response_model=Recommendations)
async def for_client(
    request: Request,
    client_id: ClientId,
    ctx: Ctx,
    only: Filters,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    exclude_purchased: bool = True,
    exclude: Annotated[list[str], Query(max_length=MAX_IDS)] = [],  # noqa: B006 (FastAPI copies)
    mode: Annotated[Mode, Query(description=MODE)] = "mixed",
    x_surface: SurfaceHeader = "api",
) -> Response:
    """Ranked, explained items for a client; unknown clients get the cold-start list.
    Items the catalogue marks unavailable never appear; filters keep the listed
    categories, price range and tags. ``mode`` chooses what the list holds: ``mixed``
    (as ``exclude_purchased`` says), ``repeat`` (the "buy it again" shelf: bought items
    only), ``explore`` (new items only)."""
    # Plain requests are normally answered by serving.fastpath before routing; this
    # is the reference path, and the one for requests it leaves to FastAPI.
    options = _with_mode(RequestOptions(exclude_purchased, tuple(exclude), (), only), mode)
    current = ctx.current
    count_client(ctx, current, client_id)
    arm = current.arm_of(client_id)
    raw = request.scope["query_string"]
    key = list_key(current, client_id, raw, arm)
    served = await cached_list(ctx, key, arm)
    served = served or await answer_miss(ctx, key, client_id, raw, k, options, arm)
    return listed_response(ctx, served, client_id, x_surface)


@router.post("/baskets/recommendations", response_model=Recommendations, responses=BODY_RESPONSES)
async def for_basket(
    request: BasketRequest, ctx: Ctx, x_surface: SurfaceHeader = "api"
) -> Response:
    """Complete a basket (not cached: baskets change with every click)."""
    current, known = ctx.current, known_client(ctx, request.client_id)
    count_client(ctx, current, request.client_id)
    count_items(ctx, current, request.items)
    arm = current.arm_of(known)
    recommender = current.recommender_for(arm)
    ctx.catalogue.facts_for(recommender)
    recent = tuple(sorted(ctx.state.recent.get(known or "", ())))
    options = RequestOptions(exclude=ctx.outcomes.held_back(known), only=request.filters())
    items = recommender.for_client(  # on the loop, as serving.lists explains
        known, request.k, tuple(request.items), options, recent
    )
    served = Served(list_body(request.client_id, current.version, items, arm), listed(items), arm)
    return listed_response(ctx, served, request.client_id, x_surface)
