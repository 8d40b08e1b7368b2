"""The one place where recsys errors become HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from recsys.errors import ConfigError, DataError, ModelError, NotFoundError, RecsysError

__all__ = ["install_error_handlers", "status_of"]

STATUS: list[tuple[type[RecsysError], int]] = [
    (NotFoundError, 404),
    (DataError, 422),
    (ConfigError, 422),
    (ModelError, 503),
    (RecsysError, 400),
]


def status_of(error: RecsysError) -> int:
    """The HTTP status of the most specific branch ``error`` belongs to."""
    return next(code for kind, code in STATUS if isinstance(error, kind))


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RecsysError)
    return JSONResponse({"detail": str(error)}, status_code=status_of(error))


def install_error_handlers(app: FastAPI) -> None:
    """Map every :class:`RecsysError` to its status with ``{"detail": message}``."""
    app.add_exception_handler(RecsysError, _handle)
