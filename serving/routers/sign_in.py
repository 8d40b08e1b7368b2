"""Who may open the CRM pages, and the sign-in and sign-out routes.

A valid session cookie names the person. With no users known at all the pages work
like the API's protected mode: a loopback caller (or anyone, with ``open_access``)
is signed in automatically as ``local`` (``open``), with a session cookie of its own
so its forms still carry CSRF tokens — a page on another site can make a browser
post to localhost. Anyone else gets a 403 page. With users known, a visit without a
valid session is sent to ``/ui/sign-in?next=<path>``.

Refusals travel as :class:`PageRefused`, which :func:`refused_page` (registered on
the app) turns into a 303 to the sign-in page or an HTML error page.

Sign-in attempts are limited (:mod:`serving.auth.attempts`): a busy page (503) while
other password checks run, a 429 after too many failures. Every answer of a ``/ui``
route (:class:`Unframed`) forbids framing by other sites.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.types import Message, Receive, Scope, Send

from serving.auth.access import is_loopback
from serving.auth.attempts import Busy
from serving.auth.principal import ALL_SCOPES, Principal, role_scopes, uncarried
from serving.auth.sessions import PRE_SIGN_IN, SESSION, Session, Sessions

__all__ = [
    "AdminPerson",
    "Analyst",
    "Manager",
    "PageRefused",
    "Posted",
    "Unframed",
    "finish",
    "page",
    "posted",
    "refused_page",
    "router",
    "safe_next",
    "session_of",
    "signed_in",
    "templates",
]

UNFRAMED = ((b"content-security-policy", b"frame-ancestors 'none'"), (b"x-frame-options", b"DENY"))
"""Headers of every page answer: no other site may show these pages in a frame."""


class Unframed(APIRoute):
    """A ``/ui`` route whose every answer (page, redirect, refusal, 422) carries
    :data:`UNFRAMED`: a page framed invisibly by another site could be clicked blind."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route, adding the headers as its answer starts."""

        async def unframed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *UNFRAMED]}
            await send(message)

        await super().handle(scope, receive, unframed)


router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False, route_class=Unframed)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")

NO_USERS = (
    "No users are set up, so these pages answer this machine only. Add people with "
    "`recsys users add NAME --role manager|analyst|admin --password-stdin` "
    "(RECSYS_ACCESS_PATH), or set RECSYS_OPEN_ACCESS=true on a closed network."
)
FAILED = "Unknown user name or wrong password."  # the same for both: names stay secret
EXPIRED = "This form expired or came from another site: reload the page and send it again."
BUSY = "The service is busy checking other sign-ins: try again in a moment."
NEEDS_EVENTS = "an API key carries the events scope, so add users (recsys users add) and sign in."
_LOCAL = Principal("local", "local", ALL_SCOPES)
_OPEN = Principal("anonymous", "open", ALL_SCOPES)


class PageRefused(Exception):
    """A page refused: a redirect to ``location`` when given, else an error page."""

    def __init__(self, status: int, message: str = "", location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.location = status, message, location


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """Template ``name`` with the signed-in person and the CSRF token of their forms."""
    session: Session | None = getattr(request.state, "session", None)
    csrf = _sessions(request).csrf(session.nonce) if session else ""
    shared = {"person": session.principal if session else None, "csrf": csrf}
    response = templates.TemplateResponse(request, name, {**shared, **context}, status_code=status)
    return finish(request, response)


def finish(request: Request, response: Response) -> Response:
    """``response`` with the cookie of a session started on this request, if any."""
    cookie = getattr(request.state, "new_session", None)
    if cookie is not None:
        _sessions(request).set_cookie(response, request, SESSION, cookie)
    return response


async def refused_page(request: Request, error: Exception) -> Response:
    """The answer to :class:`PageRefused` (registered with ``add_exception_handler``)."""
    assert isinstance(error, PageRefused)
    if error.location is not None:
        return RedirectResponse(error.location, status_code=error.status)
    context = {"message": error.message, "status": error.status}
    response = page(request, "refused.html", context, error.status)
    if error.status == 503:  # busy for the length of a password check or two
        response.headers["Retry-After"] = "1"
    return response


def safe_next(target: str) -> str:
    """``target`` if it is a page of this service (no open redirect), else the search."""
    parts = urlsplit(target)
    local = not parts.scheme and not parts.netloc and target.startswith("/ui/")
    odd = "\\" in target or any(ord(c) < 32 for c in target) or target.startswith("/ui/sign-")
    return target if local and not odd else "/ui/clients"


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _auto(request: Request) -> Principal | None:
    """Who is signed in automatically while no users are known, if anyone: acting
    only with the scopes no API key carries (those need a key, loopback included)."""
    context = request.app.state.context
    if context.settings.open_access:
        return uncarried(_OPEN, context.keys.known)
    host = request.client.host if request.client else None
    return uncarried(_LOCAL, context.keys.known) if is_loopback(host) else None


def _to_sign_in(request: Request) -> PageRefused:
    if request.method != "GET":  # a form's target cannot be reopened with GET
        return PageRefused(303, location="/ui/sign-in")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return PageRefused(303, location=f"/ui/sign-in?next={quote(here, safe='')}")


async def session_of(request: Request) -> Session:
    """This request's session (checked once per request), else the refusal."""
    found: Session | None = getattr(request.state, "session", None)
    if found is None:
        found = request.state.session = _check(request)
    return found


def _check(request: Request) -> Session:
    sessions, users = _sessions(request), request.app.state.context.keys.known.users
    auto = None if users else _auto(request)
    found = sessions.read(request.cookies.get(SESSION), users, auto)
    if found is not None:
        return found
    if users:
        raise _to_sign_in(request)
    if auto is None:
        raise PageRefused(403, NO_USERS)
    request.state.new_session, found = sessions.issue(auto)  # finish() sets the cookie
    return found


def signed_in(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency of a page for ``role`` and above; it gives the person."""

    async def person(request: Request) -> Principal:
        principal = (await session_of(request)).principal
        if not principal.at_least(role):
            said = f"{principal.name} ({principal.role})"
            raise PageRefused(403, f"This page is for the {role} role and above; you are {said}.")
        if request.method == "POST" and not principal.allows("events"):
            raise PageRefused(403, f"{principal.name} may not record here: {NEEDS_EVENTS}")
        return principal

    person.__name__ = f"signed_in_{role}"
    return person


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body).items()}


async def posted(request: Request) -> dict[str, str]:
    """A POSTed form's fields (``csrf`` taken out) once its CSRF token checks."""
    session, fields = await session_of(request), await _form(request)
    if not _sessions(request).csrf_ok(session.nonce, fields.pop("csrf", "")):
        raise PageRefused(403, EXPIRED)
    return fields


Manager = Annotated[Principal, Depends(signed_in("manager"))]
Analyst = Annotated[Principal, Depends(signed_in("analyst"))]
AdminPerson = Annotated[Principal, Depends(signed_in("admin"))]
Posted = Annotated[dict[str, str], Depends(posted)]
"""The fields of a CSRF-checked form POST."""


def _sign_in_page(
    request: Request, target: str, status: int = 200, message: str = "", name: str = ""
) -> Response:
    """The form, its CSRF token made from the pre-sign-in cookie's nonce."""
    sessions, nonce = _sessions(request), _sessions(request).pre_sign_in_nonce(request)
    nobody = not request.app.state.context.keys.known.users  # then say how to add people
    fields = {"csrf": sessions.csrf(nonce), "next": safe_next(target), "message": message}
    context = {**fields, "name": name, "person": None, "no_users": NO_USERS if nobody else ""}
    response = templates.TemplateResponse(request, "sign_in.html", context, status_code=status)
    sessions.set_cookie(response, request, PRE_SIGN_IN, nonce)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(
    request: Request, target: Annotated[str, Query(alias="next", max_length=2000)] = ""
) -> Response:
    """The sign-in form; ``next`` is the page to go back to."""
    return _sign_in_page(request, target)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the name and password; then a session cookie and back to ``next``."""
    fields = await _form(request)
    name, target = fields.get("username", "").strip()[:64], fields.get("next", "")
    if not _sessions(request).csrf_ok(request.cookies.get(PRE_SIGN_IN, ""), fields.get("csrf", "")):
        return _sign_in_page(request, target, 403, "The form expired: please sign in again.", name)
    person = await _counted(request, name, fields.get("password", ""))
    if person is None:
        return _sign_in_page(request, target, 401, FAILED, name)
    return _welcome(request, person, target)


async def _counted(request: Request, name: str, password: str) -> Principal | None:
    """:func:`_verified`, unless the name or the address failed too often lately (429)."""
    attempts, address = _sessions(request).attempts, _address(request)
    held = attempts.held(name, address)
    if held is not None:
        raise PageRefused(429, held)
    person = await _verified(request, name, password)
    attempts.count(name, address, person is not None)
    return person


def _address(request: Request) -> str:
    """The caller's address (behind a proxy: as uvicorn's --forwarded-allow-ips has it)."""
    return request.client.host if request.client else "unknown"


async def _verified(request: Request, name: str, password: str) -> Principal | None:
    """The person ``name`` if ``password`` is theirs (an unknown name checks the decoy,
    so it takes as long as a wrong password); a busy page (503) past the checks at once."""
    sessions = _sessions(request)
    record = request.app.state.context.keys.known.users.get(name)
    try:
        matches = await sessions.attempts.verify(
            record.password_hash if record else sessions.decoy, password
        )
    except Busy:
        raise PageRefused(503, BUSY) from None
    if record is None or not matches:
        return None
    return Principal(record.name, "user", role_scopes(record.role), record.role)


def _welcome(request: Request, person: Principal, target: str) -> Response:
    """Back to ``target`` with a new session (a new nonce: no fixation of an old one)."""
    sessions = _sessions(request)
    response = RedirectResponse(safe_next(target), status_code=303)
    record = request.app.state.context.keys.known.users.get(person.name)
    sessions.set_cookie(response, request, SESSION, sessions.issue(person, record)[0])
    sessions.clear_cookie(response, request, PRE_SIGN_IN)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _: Posted) -> Response:
    """End the session: refused from now on here, and the cookie cleared."""
    sessions = _sessions(request)
    sessions.sign_out(await session_of(request))
    response = RedirectResponse("/ui/sign-in", status_code=303)
    sessions.clear_cookie(response, request, SESSION)
    return response
