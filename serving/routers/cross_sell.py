"""``/v1/cross-sell/rules``: the analyst rules in force, read and replaced without retraining."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from recsys.errors import NotFoundError
from recsys.rules.cross_sell import CrossSellRules
from serving.deps import AdminRecord, Ctx, Reader
from serving.schemas import AUTH_RESPONSES, BODY_RESPONSES, ErrorOut, RulesAccepted

router = APIRouter(prefix="/v1/cross-sell", tags=["cross-sell"], responses=AUTH_RESPONSES)


@router.get(
    "/rules",
    response_model=CrossSellRules,
    dependencies=[Reader],
    responses={404: {"model": ErrorOut, "description": "no analyst rules are loaded"}},
)
async def rules(ctx: Ctx) -> CrossSellRules:
    """The analyst cross-sell rules the service applies now."""
    found = ctx.current.recommender.cross_sell
    if found is None:
        raise NotFoundError("rules: no analyst rules are loaded (RECSYS_CROSS_SELL_PATH)")
    return found


@router.put("/rules", response_model=RulesAccepted, responses=BODY_RESPONSES)
async def replace_rules(rules: CrossSellRules, ctx: Ctx, record: AdminRecord) -> RulesAccepted:
    """Validate and apply new analyst rules at once (saved to ``RECSYS_CROSS_SELL_PATH``
    when set); lists cached under the old rules are never served as theirs."""
    async with ctx.state.switching:  # not between a reload's load and its switch
        loaded = await asyncio.to_thread(ctx.state.use_cross_sell, rules)
    await record("rules.replace", rules.version or "(no version)", {"rules": len(rules.rules)})
    return RulesAccepted(
        version=rules.version, rules=len(rules.rules), cache_version=loaded.cache_version
    )
