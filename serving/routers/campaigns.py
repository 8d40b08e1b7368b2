"""``/v1/campaigns``: CRM campaigns defined (admin), listed and read; and
``/v1/clients/{id}/campaigns``: the campaigns a client is in.

A definition is validated as ``recsys campaign build`` validates its YAML
(:func:`recsys.campaigns.parse`): a bad field is a 422 naming it. Building a campaign
(its members, its report) is ``recsys campaign build NAME``'s work, not the API's.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response
from starlette.concurrency import run_in_threadpool

from feature_store import SEGMENT_RULES
from recsys.campaigns import NAME_PATTERN, Campaign, CampaignStore, parse
from recsys.errors import ConfigError
from serving.campaigns import Book
from serving.deps import AdminRecord, Ctx, Reader
from serving.schemas import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    MAX_ID,
    CampaignOut,
    CampaignSummary,
    ClientCampaign,
    ErrorOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["campaigns"], responses=AUTH_RESPONSES)

CampaignName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]
"""A campaign's name in a path (it names files: letters, digits, ``_``, ``.``, ``-``)."""
_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no campaign of that name"}
}


@router.put(
    "/campaigns/{name}",
    response_model=Campaign,
    status_code=200,
    responses={
        **BODY_RESPONSES,
        201: {"model": Campaign, "description": "a new campaign was defined"},
        422: {"model": ErrorOut, "description": "a bad field, named (a body name ≠ the path's)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Campaign"}}},
        }
    },
)
async def define(
    name: CampaignName,
    raw: Annotated[Any, Body()],
    book: Book,
    record: AdminRecord,
    response: Response,
) -> Campaign:
    """Define a campaign or replace its definition (201 when new, 200 when replaced);
    the body's ``name`` may be left out (the path's is used) but must not differ.
    The last build's members stay until ``recsys campaign build NAME`` runs again."""
    if isinstance(raw, dict):  # else parse names what is wrong
        given = raw.get("name", name)
        if given != name:
            raise ConfigError(f"campaign: name: {given!r} is not the path's {name!r}")
        raw = {**raw, "name": name}
    campaign = parse(raw, "campaign")
    _known_segments(campaign)
    store = book.store
    async with book.writing:  # one definition written at a time (each file whole)
        replaced = await asyncio.to_thread(_exists, store, name)
        await asyncio.to_thread(store.save, campaign)
    response.status_code = 200 if replaced else 201
    await record("campaign.define", name, {"replaced": replaced})
    return await asyncio.to_thread(store.definition, name)


def _exists(store: CampaignStore, name: str) -> bool:
    return (store.root / f"{name}.yaml").is_file()


@router.get("/campaigns", response_model=list[CampaignSummary], dependencies=[Reader])
async def campaigns(ctx: Ctx) -> list[CampaignSummary]:
    """Every defined campaign by name: its channel, dates and last build's counts (a
    definition that cannot be read: its name and the problem)."""
    store = CampaignStore(ctx.settings.campaigns_path)
    return await asyncio.to_thread(summaries, store)


def _known_segments(campaign: Campaign) -> None:
    """A segment the feature store never names is refused now, not at the build."""
    names = [name for name, *_ in SEGMENT_RULES]
    spec = campaign.audience
    named = [("audience.value", spec.value)] if spec.kind == "segment" else []
    named += [("audience.segment", spec.segment)] if spec.segment is not None else []
    for field, value in named:
        if value not in names:
            raise ConfigError(
                f"campaign: {field}: unknown segment {value!r}; one of {', '.join(names)}"
            )


def summaries(store: CampaignStore) -> list[CampaignSummary]:
    """Each campaign of ``store``: definition and build counts (blocking: files)."""
    found = []
    for name in store.names():
        try:
            campaign, build = store.definition(name), store.build_report(name) or {}
        except ConfigError as error:
            found.append(CampaignSummary(name=name, problem=str(error)))
            continue
        counts = {k: build.get(k) for k in ("built_at", "members", "treatment", "holdout")}
        found.append(
            CampaignSummary(
                name=name,
                channel=campaign.channel,
                start=campaign.start,
                end=campaign.end,
                over_cap=build.get("over_cap"),
                **counts,
            )
        )
    return found


@router.get(
    "/campaigns/{name}", response_model=CampaignOut, dependencies=[Reader], responses=_UNKNOWN
)
async def campaign(name: CampaignName, ctx: Ctx) -> CampaignOut:
    """One campaign: its definition and its last build's report (null before one)."""
    store = CampaignStore(ctx.settings.campaigns_path)
    definition = await asyncio.to_thread(store.definition, name)
    build = await asyncio.to_thread(store.build_report, name)
    return CampaignOut(definition=definition, build=build)


@router.get(
    "/clients/{client_id}/campaigns",
    response_model=list[ClientCampaign],
    dependencies=[Reader],
)
async def client_campaigns(
    client_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)], book: Book, ctx: Ctx
) -> list[ClientCampaign]:
    """The built campaigns the client is in, newest start first, with its group
    (``holdout``: kept out, not to be contacted for it) and its offers with their
    reasons; none for a client no campaign has, or a deleted one."""
    if ctx.state.is_forgotten(client_id):
        return []
    found = await run_in_threadpool(book.client_campaigns, client_id)
    return [ClientCampaign.model_validate(entry) for entry in found]
