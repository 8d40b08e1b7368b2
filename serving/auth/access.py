"""The access rule of every API route, in one function.

A key given in ``X-API-Key`` must be known and carry the route's scope. Without a
key: a scope some key carries needs one (401); reads no key carries stay open; every
other route answers loopback callers only (Redis's protected mode), unless
``open_access`` is set for a closed network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from functools import cache

from fastapi import HTTPException, Request

from serving.auth.keyring import KeyRing
from serving.auth.principal import ALL_SCOPES, Principal

__all__ = ["PROTECTED", "check", "is_loopback", "scoped"]

PROTECTED = (
    "no API key is configured, so write and admin routes answer loopback clients only: "
    "add keys (`recsys keys add NAME --scopes …`, RECSYS_ACCESS_PATH) or set "
    "RECSYS_ADMIN_API_KEY, or RECSYS_OPEN_ACCESS=true on a closed network"
)
_READER = Principal("anonymous", "open", frozenset({"read"}))
_OPEN = Principal("anonymous", "open", ALL_SCOPES)
_LOCAL = Principal("local", "local", ALL_SCOPES)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback address (an unknown peer is not)."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(
    keys: KeyRing, open_access: bool, given: str | bytes | None, host: str | None, scope: str
) -> Principal:
    """The caller of a route of ``scope``, or the HTTP error that refuses it."""
    known = keys.known
    if given is not None and (known.keys or not known.complete):  # no keys: ignored, as before
        caller = keys.principal(given)
        if caller is None:
            raise HTTPException(403, "X-API-Key not valid")
        if not caller.allows(scope):
            raise HTTPException(403, f"the key {caller.name!r} lacks the {scope!r} scope")
        return caller
    if known.carried(scope):
        raise HTTPException(401, "X-API-Key header required")
    if scope == "read":
        return _READER
    if open_access:
        return _OPEN
    if is_loopback(host):
        return _LOCAL
    raise HTTPException(403, PROTECTED)


@cache  # one callable per scope: FastAPI then runs it once per request
def scoped(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency guarding routes of ``scope``; it gives the caller."""

    async def caller(request: Request) -> Principal:
        context = request.app.state.context
        host = request.client.host if request.client else None
        given = request.headers.get("x-api-key")
        return check(context.keys, context.settings.open_access, given, host, scope)

    caller.__name__ = f"{scope}_scope"
    return caller
