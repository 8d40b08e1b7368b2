"""``/v1/items/{id}/related``: bought together with / similar to one item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from recsys.ranking import MAX_K, RankedItem, RequestOptions
from serving.deps import Ctx, Filters, Reader, SurfaceHeader
from serving.drift import count_item
from serving.impressions import listed
from serving.lists import Served, encode, listed_response
from serving.schemas import AUTH_RESPONSES, MAX_ID, Related

router = APIRouter(
    prefix="/v1/items", tags=["items"], dependencies=[Reader], responses=AUTH_RESPONSES
)


@router.get(
    "/{item_id}/related", response_model=Related, responses={404: {"description": "unknown item"}}
)
async def related(
    item_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    ctx: Ctx,
    only: Filters,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    x_surface: SurfaceHeader = "api",
) -> Response:
    """Items bought together with / similar to ``item_id``. An item the catalogue has
    but the model has not yet learnt gets items of the same category, tags and title
    words; so does the rest of a list the models fill only in part (an item sold only
    to guests: no client bought it, few baskets hold it); an item neither the events
    nor the catalogue know: 404."""
    current = ctx.current
    count_item(ctx, current, item_id)
    recommender = current.recommender
    content = ctx.catalogue.new_items
    if (
        recommender.bundle.data.items.lookup(item_id) is None
        and item_id in recommender.facts.unknown
    ):
        items = content(recommender).related(item_id, k, only, ctx.state.bought_since)
    else:  # on the loop: GIL-bound, ~1 ms
        items = recommender.for_item(item_id, k, RequestOptions(only=only))
        if len(items) < k:
            similar = content(recommender).related(item_id, k, only, ctx.state.bought_since)
            items = topped_up(items, similar, k)
    body = {"item_id": item_id, "model_version": current.version, "items": items}
    return listed_response(ctx, Served(encode(body), listed(items)), None, x_surface)


def topped_up(items: list[RankedItem], more: list[RankedItem], k: int) -> list[RankedItem]:
    """``items``, then those of ``more`` not listed yet, up to ``k`` in all."""
    listed = {item.item_id for item in items}
    return [*items, *(item for item in more if item.item_id not in listed)][:k]
