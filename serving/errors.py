"""The one place where recsys errors become HTTP statuses (and 405s name every method)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from recsys.errors import ConfigError, DataError, ModelError, NotFoundError, RecsysError

__all__ = ["allowed_methods", "install_error_handlers", "status_of"]

STATUS: list[tuple[type[RecsysError], int]] = [
    (NotFoundError, 404),
    (DataError, 422),
    (ConfigError, 422),
    (ModelError, 503),
    (RecsysError, 400),
]

#: The methods a 405's ``Allow`` may name, each tried against the routes.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def status_of(error: RecsysError) -> int:
    """The HTTP status of the most specific branch ``error`` belongs to."""
    return next(code for kind, code in STATUS if isinstance(error, kind))


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RecsysError)
    return JSONResponse({"detail": str(error)}, status_code=status_of(error))


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers on the path of the request ``scope``."""
    return [method for method in METHODS if _routed(routes, scope, method)]


def _routed(routes: Sequence[BaseRoute], scope: Scope, method: str) -> bool:
    # A fresh scope per try: matching may write into the scope it is given.
    path, root = scope["path"], scope.get("root_path", "")
    tried = {"type": "http", "path": path, "root_path": root, "method": method, "headers": []}
    return any(route.matches(tried)[0] is Match.FULL for route in routes)


async def _not_allowed(request: Request, error: Exception) -> JSONResponse:
    # The router's own 405 names only the first route whose path matched (PUT alone
    # for /v1/items/batch, GET alone for /v1/cross-sell/rules): RFC 9110 wants them all.
    allow = ", ".join(allowed_methods(request.app.router.routes, request.scope))
    headers = {"Allow": allow}
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every :class:`RecsysError` to its status with ``{"detail": message}``, and
    answer every 405 with an ``Allow`` naming all the methods of the path."""
    app.add_exception_handler(RecsysError, _handle)
    app.add_exception_handler(405, _not_allowed)
