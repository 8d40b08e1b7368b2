"""``/v1/items/{id}/related``: bought together with / similar to one item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from recsys.ranking import MAX_K
from serving.deps import Ctx, Reader
from serving.lists import encode
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
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
) -> Response:
    """Items bought together with / similar to ``item_id``; unknown item → 404."""
    current = ctx.current
    items = current.recommender.for_item(item_id, k)  # on the loop: GIL-bound, ~1 ms
    body = {"item_id": item_id, "model_version": current.version, "items": items}
    return Response(encode(body), media_type="application/json")
