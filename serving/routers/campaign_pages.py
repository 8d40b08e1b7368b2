"""The campaign pages for analysts: ``/ui/campaigns`` (every campaign) and
``/ui/campaigns/{name}`` (its definition, last build and effect report), server-rendered
like ``/ui/experiments``, without JavaScript."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from recsys.campaigns import CampaignStore
from recsys.errors import ConfigError, NotFoundError
from serving.campaigns import effect_rows, page_report
from serving.deps import Ctx
from serving.routers.campaigns import CampaignName, summaries
from serving.routers.sign_in import Analyst, Unframed, page

__all__ = ["router"]

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False, route_class=Unframed)


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns(request: Request, ctx: Ctx, person: Analyst) -> Response:
    """Every campaign: channel, dates and the last build's counts."""
    found = await asyncio.to_thread(summaries, CampaignStore(ctx.settings.campaigns_path))
    return page(request, "campaigns.html", {"campaigns": found})


@router.get("/campaigns/{name}", response_class=HTMLResponse)
async def campaign(request: Request, name: CampaignName, ctx: Ctx, person: Analyst) -> Response:
    """The campaign's definition, its last build, and its effect: per metric treatment
    against holdout with 95 % intervals, CUPED and difference in differences, the
    sample-ratio check, and the same per channel and per segment."""
    try:
        found = await page_report(ctx, name)
    except NotFoundError:
        missing = {"name": name, "problem": f"There is no campaign named {name!r}."}
        return page(request, "campaign.html", missing, 404)
    except ConfigError as error:  # a definition file broken by hand
        return page(request, "campaign.html", {"name": name, "problem": str(error)}, 422)
    effect = found.effect
    context = {
        "name": name,
        "campaign": found.campaign,
        "build": found.build,
        "effect": effect,
        "rows": effect_rows(effect["metrics"]) if effect else [],
        "by": {
            dimension: [
                (value, part["clients"], effect_rows(part["metrics"]))
                for value, part in sorted(values.items())
            ]
            for dimension, values in (effect["by"] if effect else {}).items()
        },
    }
    return page(request, "campaign.html", context)
