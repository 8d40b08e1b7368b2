"""Recording one outcome (the API route and the CRM screen's forms share it)."""

from __future__ import annotations

from datetime import datetime

from recsys.feedback import Outcome
from serving.deps import Context
from serving.schemas import OutcomeIn, Recorded

__all__ = ["outcome_of", "record_outcome"]


def outcome_of(
    body: OutcomeIn, client_id: str, item_id: str, at: datetime, by: str | None = None
) -> Outcome:
    """The stored outcome of ``body`` (whichever kind it is), recorded by ``by``."""
    return Outcome(client_id=client_id, item_id=item_id, at=at, by=by, **body.root.model_dump())


async def record_outcome(
    ctx: Context, client_id: str, item_id: str, body: OutcomeIn, by: str | None = None
) -> Recorded:
    """Store the outcome (with who recorded it: ``user:ann``, ``key:crm``), drop the
    client's cached lists, say until when it holds."""
    outcome = outcome_of(body, client_id, item_id, ctx.outcomes.clock(), by)
    await ctx.outcomes.record(outcome)
    await ctx.cache.drop_client(client_id)
    until = outcome.blocks_until(ctx.outcomes.book.cooldown)
    return Recorded(recorded=True, held_back_until=until)
