"""``DELETE /v1/clients/{id}``: forget a client (privacy; admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from recsys.privacy import client_hash
from serving.deps import AdminRecord, Ctx
from serving.privacy import forget
from serving.schemas import AUTH_RESPONSES, MAX_ID, Deleted

router = APIRouter(prefix="/v1/clients", tags=["privacy"], responses=AUTH_RESPONSES)


@router.delete("/{client_id}", response_model=Deleted)
async def delete_client(
    client_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    ctx: Ctx,
    record: AdminRecord,
) -> Deleted:
    """Remove the client's features, cached lists and fresh purchases at once, and
    record a tombstone every later export and training honours; the client then
    gets cold-start lists. Unknown clients are tombstoned too (their events may
    still be on their way)."""
    await forget(ctx, client_id)
    # The log is never trimmed: it names the client as the tombstones do (a digest).
    await record("client.delete", client_hash(client_id), None)
    return Deleted(deleted=True)
