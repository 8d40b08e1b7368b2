"""The client screen for sales managers: server-rendered HTML, readable without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from serving.crm import item_label, reason_lines, source_names
from serving.deps import Ctx, Reader
from serving.experiments_page import chart, page_report
from serving.outcomes_api import record_outcome
from serving.routers.offers import next_best_offers
from serving.schemas import MAX_ID, OutcomeIn

router = APIRouter(prefix="/ui", tags=["ui"], dependencies=[Reader], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")


def money(value: float | None) -> str:
    """£1,234.50, or "no prices" when the events carry none (never a made-up £0.00)."""
    return "no prices" if value is None else f"£{value:,.2f}"


templates.env.filters["money"] = money


@router.get("/clients", response_class=HTMLResponse)
async def search(
    request: Request, client_id: Annotated[str, Query(max_length=MAX_ID)] = ""
) -> Response:
    """The search box: a client id leads to its screen."""
    if client_id.strip():
        return RedirectResponse(f"/ui/clients/{client_id.strip()}", status_code=303)
    return templates.TemplateResponse(request, "search.html", {})


@router.get("/clients/{client_id}", response_class=HTMLResponse)
async def client_screen(request: Request, client_id: str, ctx: Ctx) -> HTMLResponse:
    """Profile card, segment badge, offers with reasons and evidence, purchase history."""
    view = await next_best_offers(ctx, client_id[:MAX_ID], 5, "crm")
    label, names = item_label(ctx.current.recommender), source_names(ctx.current.recommender)
    lines = [reason_lines(item, label, names) for item in view["offers"]]
    context = {"view": view, "offers": list(zip(view["offers"], lines, strict=True))}
    return templates.TemplateResponse(request, "client.html", context)


@router.post("/clients/{client_id}/offers/{item_id}/outcome")
async def outcome_form(request: Request, client_id: str, item_id: str, ctx: Ctx) -> Response:
    """The screen's Accepted / Declined / Postponed forms (no JavaScript): record the
    outcome, then back to the client's screen."""
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items() if v[0]}
    try:
        body = OutcomeIn.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    await record_outcome(ctx, client_id[:MAX_ID], item_id[:MAX_ID], body)
    return RedirectResponse(f"/ui/clients/{quote(client_id, safe='')}", status_code=303)


@router.get("/experiments", response_class=HTMLResponse)
async def experiments(request: Request, ctx: Ctx) -> HTMLResponse:
    """The running (or latest) experiment: per arm figures with intervals and a chart."""
    experiment, found = await page_report(ctx)
    svg = chart(found) if found else ""
    context = {"experiment": experiment, "report": found, "svg": svg}
    return templates.TemplateResponse(request, "experiments.html", context)


@router.get("/at-risk", response_class=HTMLResponse)
async def at_risk(
    request: Request, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> HTMLResponse:
    """Clients flagged churn_risk, most valuable first, each with their best offer."""
    rows = []
    if ctx.features is not None:
        risky = await run_in_threadpool(ctx.features.at_risk, limit)
        for client_id, profile in risky:
            view = await next_best_offers(ctx, client_id, 1, "crm")
            rows.append(
                {"client_id": client_id, "profile": profile, "offer": (view["offers"] or [None])[0]}
            )
    return templates.TemplateResponse(request, "at_risk.html", {"rows": rows})
