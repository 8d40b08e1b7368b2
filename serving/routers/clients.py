"""``DELETE /v1/clients/{id}``: forget a client (privacy; admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serving.deps import Admin, Ctx
from serving.privacy import forget
from serving.schemas import AUTH_RESPONSES, MAX_ID, Deleted

router = APIRouter(
    prefix="/v1/clients", tags=["privacy"], dependencies=[Admin], responses=AUTH_RESPONSES
)


@router.delete("/{client_id}", response_model=Deleted)
async def delete_client(
    client_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)], ctx: Ctx
) -> Deleted:
    """Remove the client's features, cached lists and fresh purchases at once, and
    record a tombstone every later export and training honours; the client then
    gets cold-start lists. Unknown clients are tombstoned too (their events may
    still be on their way)."""
    await forget(ctx, client_id)
    return Deleted(deleted=True)
