"""``/v1/clients/{id}/offers/{item}/outcome``: what the client said to an offer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serving.deps import Caller, Ctx, Reader
from serving.outcomes_api import record_outcome
from serving.schemas import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    MAX_ID,
    OfferHistory,
    OutcomeIn,
    Recorded,
)

router = APIRouter(prefix="/v1/clients", tags=["crm"], responses=AUTH_RESPONSES)

Id = Annotated[str, Path(min_length=1, max_length=MAX_ID)]


@router.post(
    "/{client_id}/offers/{item_id}/outcome",
    response_model=Recorded,
    responses=BODY_RESPONSES,
)
async def outcome(
    client_id: Id, item_id: Id, body: OutcomeIn, ctx: Ctx, caller: Caller
) -> Recorded:
    """Record accepted / declined / postponed: a declined item leaves the client's
    lists for the cool-down, a postponed one until its date; accepted counts as a
    conversion of the list that showed it."""
    return await record_outcome(ctx, client_id, item_id, body, caller.author)


@router.get("/{client_id}/offers/history", response_model=OfferHistory, dependencies=[Reader])
async def history(client_id: Id, ctx: Ctx) -> OfferHistory:
    """The client's offer outcomes, newest first."""
    return OfferHistory(client_id=client_id, outcomes=ctx.outcomes.book.history(client_id))
