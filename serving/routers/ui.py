"""The client screen for sales managers: server-rendered HTML, readable without JavaScript.

Each page takes the dependency of its role (:mod:`serving.routers.sign_in`): managers
open clients, their outcome forms and the at-risk list; analysts also experiments,
campaigns (:mod:`serving.routers.campaign_pages`), the team and the served model;
admins also the admin page. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from recsys.feedback import team_report
from serving.campaigns import Book
from serving.crm import item_label, reason_lines, source_names
from serving.deps import Ctx
from serving.experiments_page import WINDOW, chart, page_report, read_events, read_outcomes
from serving.model_page import page_context
from serving.outcomes_api import record_outcome
from serving.routers.offers import next_best_offers
from serving.routers.sign_in import (
    AdminPerson,
    Analyst,
    Manager,
    Posted,
    Unframed,
    finish,
    page,
    templates,
)
from serving.schemas import MAX_ID, OutcomeIn

__all__ = ["money", "router"]

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False, route_class=Unframed)
ClientId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
"""A client id in a page's path: a 422 when too long, never cut to another client's."""
ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]


def money(value: float | None) -> str:
    """£1,234.50, or "no prices" when the events carry none (never a made-up £0.00)."""
    return "no prices" if value is None else f"£{value:,.2f}"


templates.env.filters["money"] = money


@router.get("/clients", response_class=HTMLResponse)
async def search(
    request: Request, person: Manager, client_id: Annotated[str, Query(max_length=MAX_ID)] = ""
) -> Response:
    """The search box: a client id leads to its screen."""
    if client_id.strip():
        found = RedirectResponse(_screen(client_id.strip()), status_code=303)
        return finish(request, found)
    return page(request, "search.html", {})


@router.get("/clients/{client_id}", response_class=HTMLResponse)
async def client_screen(
    request: Request, client_id: ClientId, ctx: Ctx, person: Manager, book: Book
) -> Response:
    """Profile card, segment badge, offers with reasons and evidence, the campaigns the
    client is in (contacted or held out), purchase history."""
    view = await next_best_offers(ctx, client_id, 5, "crm")
    label, names = item_label(ctx.current.recommender), source_names(ctx.current.recommender)
    lines = [reason_lines(item, label, names) for item in view["offers"]]
    forgotten = ctx.state.is_forgotten(client_id)
    campaigns = [] if forgotten else await run_in_threadpool(book.client_campaigns, client_id)
    offers = list(zip(view["offers"], lines, strict=True))
    context = {"view": view, "offers": offers, "campaigns": campaigns}
    return page(request, "client.html", context)


@router.post("/clients/{client_id}/offers/{item_id}/outcome")
async def outcome_form(
    client_id: ClientId, item_id: ItemId, ctx: Ctx, person: Manager, form: Posted
) -> Response:
    """The screen's Accepted / Declined / Postponed forms (no JavaScript), CSRF-checked:
    record the outcome, then back to the client's screen."""
    fields = {key: value for key, value in form.items() if value}
    try:
        body = OutcomeIn.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    await record_outcome(ctx, client_id, item_id, body, person.author)
    return RedirectResponse(_screen(client_id), status_code=303)


@router.get("/experiments", response_class=HTMLResponse)
async def experiments(request: Request, ctx: Ctx, person: Analyst) -> Response:
    """The running (or latest) experiment: per arm figures with intervals and a chart."""
    experiment, found = await page_report(ctx)
    svg = chart(found) if found else ""
    context = {"experiment": experiment, "report": found, "svg": svg}
    return page(request, "experiments.html", context)


@router.get("/model", response_class=HTMLResponse)
async def model(request: Request, ctx: Ctx, person: Analyst) -> Response:
    """The served version and its age, the retrain gate's decision with each check, the
    backtest, what it changed from production, and the recent decisions."""
    context = await run_in_threadpool(page_context, ctx.current, time.time())
    return page(request, "model.html", context)


@router.get("/at-risk", response_class=HTMLResponse)
async def at_risk(
    request: Request, ctx: Ctx, person: Manager, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Response:
    """Clients flagged churn_risk, most valuable first, each with their best offer."""
    rows = []
    if ctx.features is not None:
        risky = await run_in_threadpool(ctx.features.at_risk, limit)
        for client_id, profile in risky:
            view = await next_best_offers(ctx, client_id, 1, "crm")
            rows.append(
                {"client_id": client_id, "profile": profile, "offer": (view["offers"] or [None])[0]}
            )
    return page(request, "at_risk.html", {"rows": rows})


@router.get("/my-clients", response_class=HTMLResponse)
async def my_clients(
    request: Request, ctx: Ctx, person: Manager, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Response:
    """The signed-in manager's clients (the features' ``manager`` column or assigned
    on the screen), those at risk first, each with their best offer."""
    rows = [await _with_offer(ctx, client_id) for client_id in await _mine(ctx, person.name, limit)]
    return page(request, "my_clients.html", {"rows": rows, "name": person.name})


async def _mine(ctx: Ctx, manager: str, limit: int) -> list[str]:
    """The first ``limit`` of ``manager``'s clients, at risk first, then by id: sorted
    before the cut, so a client at risk is never left out for a safe one."""
    if ctx.features is None:
        return []
    features = ctx.features
    mine = sorted(await run_in_threadpool(features.clients_of, manager))
    flags = await run_in_threadpool(features.fields_of, mine, ("churn_risk",))
    mine.sort(key=lambda client: not (flags.get(client) or {}).get("churn_risk"))
    return mine[:limit]


async def _with_offer(ctx: Ctx, client_id: str) -> dict[str, Any]:
    """One row of a list: the client, their profile and their best offer."""
    view = await next_best_offers(ctx, client_id, 1, "crm")
    return {
        "client_id": client_id,
        "profile": view["profile"],
        "offer": (view["offers"] or [None])[0],
    }


@router.post("/clients/{client_id}/manager")
async def assign_manager(client_id: ClientId, ctx: Ctx, person: Manager, form: Posted) -> Response:
    """Who works with the client now (empty: nobody), from the screen's form."""
    name = _manager(form)
    if ctx.features is not None:
        await run_in_threadpool(ctx.features.assign, client_id, name)
    return RedirectResponse(_screen(client_id), status_code=303)


def _manager(form: dict[str, str]) -> str | None:
    """The form's manager (None: nobody); a 422 when too long, never cut to another name."""
    name = form.get("manager", "").strip()
    if len(name) > MAX_ID:
        problem = {"type": "string_too_long", "loc": ("body", "manager"), "input": name}
        raise RequestValidationError([{**problem, "msg": f"at most {MAX_ID} characters"}])
    return name or None


def _screen(client_id: str) -> str:
    """The path of a client's screen (the id quoted: it may hold any character)."""
    return f"/ui/clients/{quote(client_id, safe='')}"


@router.get("/team", response_class=HTMLResponse)
async def team(
    request: Request, ctx: Ctx, person: Analyst, day: Annotated[date | None, Query()] = None
) -> Response:
    """The head of sales' daily form: per manager, the day and the month to date
    (offers, answers, orders and revenue of accepted offers), from this service's logs."""
    chosen = day or ctx.current.recommender.today()  # the service's day
    outcomes, events = await read_outcomes(ctx), await read_events(ctx.events)
    found = await run_in_threadpool(team_report, outcomes, events, chosen, WINDOW.days)
    return page(request, "team.html", {"report": found, "window": WINDOW.days})


@router.get("/admin", response_class=HTMLResponse)
async def admin(request: Request, ctx: Ctx, person: AdminPerson) -> Response:
    """Who may do what: the users with their roles, the API keys' names with their
    scopes (never their digests)."""
    known = ctx.keys.known
    users = sorted(known.users.values(), key=lambda user: user.name)
    keys = sorted((key.name, sorted(key.scopes)) for key in known.keys.values())
    return page(request, "admin.html", {"users": users, "keys": keys})
