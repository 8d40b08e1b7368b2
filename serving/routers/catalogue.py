"""``/v1/items/{id}`` and ``/v1/items/batch``: the catalogue (changed with the catalogue scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from recsys.catalogue import CatalogueItem
from recsys.errors import NotFoundError
from serving.deps import CatalogueRecord, Ctx, Reader
from serving.schemas import AUTH_RESPONSES, BODY_RESPONSES, MAX_ID, ItemBatch, ItemIn, Upserted

router = APIRouter(prefix="/v1/items", tags=["catalogue"], responses=AUTH_RESPONSES)

ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]


@router.put(
    "/{item_id}",
    response_model=CatalogueItem,
    responses=BODY_RESPONSES,
)
async def upsert(item_id: ItemId, body: ItemIn, ctx: Ctx, record: CatalogueRecord) -> CatalogueItem:
    """Create or replace one item: stored (fsynced, or in Redis for every replica)
    before the answer; an unavailable item leaves every list at once."""
    await ctx.catalogue.upsert([body.item(item_id)])
    await record("catalogue.upsert", item_id, None)
    return ctx.catalogue.catalogue.items[item_id]


@router.post("/batch", response_model=Upserted, responses=BODY_RESPONSES)
async def upsert_many(body: ItemBatch, ctx: Ctx, record: CatalogueRecord) -> Upserted:
    """Create or replace up to 10,000 items in one request."""
    await ctx.catalogue.upsert([entry.item(entry.item_id) for entry in body.items])
    await record("catalogue.batch", f"{len(body.items)} items", {"items": len(body.items)})
    return Upserted(upserted=len(body.items))


@router.delete("/{item_id}", response_model=CatalogueItem)
async def discontinue(item_id: ItemId, ctx: Ctx, record: CatalogueRecord) -> CatalogueItem:
    """Mark an item discontinued: never offered again (a later ``PUT`` revives it)."""
    gone = await ctx.catalogue.delete(item_id)
    await record("catalogue.discontinue", item_id, None)
    return gone


@router.get(
    "/{item_id}",
    response_model=CatalogueItem,
    dependencies=[Reader],
    responses={404: {"description": "not in the catalogue"}},
)
async def describe(item_id: ItemId, ctx: Ctx) -> CatalogueItem:
    """The catalogue's entry of one item; 404 when the catalogue has none."""
    found = ctx.catalogue.catalogue.items.get(item_id)
    if found is None:
        raise NotFoundError(f"item_id: {item_id!r} is not in the catalogue")
    return found
