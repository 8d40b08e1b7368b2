"""Recording one outcome (the API route and the CRM screen's forms share it)."""

from __future__ import annotations

from serving.deps import Context
from serving.schemas import OutcomeIn, Recorded

__all__ = ["record_outcome"]


async def record_outcome(ctx: Context, client_id: str, item_id: str, body: OutcomeIn) -> Recorded:
    """Store the outcome, drop the client's cached lists, say until when it holds."""
    outcome = body.outcome_of(client_id, item_id, ctx.outcomes.clock())
    await ctx.outcomes.record(outcome)
    await ctx.cache.drop_client(client_id)
    until = outcome.blocks_until(ctx.outcomes.book.cooldown)
    return Recorded(recorded=True, held_back_until=until)
