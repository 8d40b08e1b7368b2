"""Admin actions of the service into the audit log (``serving.audit``): the routes
say what they did; who and from where come from the request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Request

from serving.audit import AuditFile, AuditStream, audit_entry
from serving.auth.principal import Principal

__all__ = ["AuditTrail", "Record"]

log = logging.getLogger("recsys.serving")

Record = Callable[[str, str, dict[str, Any] | None], Awaitable[None]]
"""``await record(action, target, detail)`` for one request's caller."""


class AuditTrail:
    """The service's audit log: the Redis stream every replica shares when Redis is
    configured (the file when it does not answer, so no action goes unrecorded),
    else the file."""

    def __init__(self, path: Path, redis: Any = None) -> None:
        self.file = AuditFile(path)
        self.stream = AuditStream(redis) if redis is not None else None

    async def record(self, entry: dict[str, Any]) -> None:
        """Append one entry (checked: never a key or a password)."""
        if self.stream is not None:
            try:
                await self.stream.append(entry)
                return
            except Exception:  # Redis away: the file keeps the line
                log.exception("audit stream unreachable; the entry goes to the file")
        await asyncio.to_thread(self.file.append, entry)

    def for_request(self, who: Principal, request: Request) -> Record:
        """The recorder of one request's actions."""
        address = request.client.host if request.client else None

        async def record(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
            await self.record(audit_entry(who.author, action, target, detail, address))

        return record
