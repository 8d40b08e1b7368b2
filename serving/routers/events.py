"""``POST /v1/events``: durable ingestion, cache invalidation and fold-in."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from fastapi import APIRouter

from serving.deps import Ctx, EventWriter
from serving.schemas import AUTH_RESPONSES, BODY_RESPONSES, Accepted, EventIn, EventsIn

router = APIRouter(
    prefix="/v1", tags=["events"], dependencies=[EventWriter], responses=AUTH_RESPONSES
)


@router.post("/events", response_model=Accepted, responses=BODY_RESPONSES)
async def ingest(body: EventsIn | EventIn, ctx: Ctx) -> Accepted:
    """Store one event or a batch durably, then make purchases count at once."""
    events = body.events if isinstance(body, EventsIn) else [body]
    now = datetime.now(UTC)
    # event_id: a replayed batch (Redis back after an outage) is counted once in training.
    rows = [
        e.model_dump(mode="json")
        | {"timestamp": (e.timestamp or now).isoformat(), "event_id": e.event_id or uuid4().hex}
        for e in events
    ]
    await ctx.events.append(rows)  # fsynced before we answer
    for event in events:
        if event.type == "purchase":
            ctx.state.remember(event.client_id, event.item_id)
    for client in {e.client_id for e in events}:
        await ctx.cache.drop_client(client)
    return Accepted(accepted=len(events))
