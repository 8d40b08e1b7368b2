"""The baselines: a bare FastAPI endpoint (``app``) and a plain ASGI app (``raw``), each
returning fixed bytes (BARE_BODY_FILE) on any path."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response
from starlette.types import Receive, Scope, Send

BODY = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
app = FastAPI()


@app.get("/v1/clients/{client_id}/recommendations")
async def bare(client_id: str) -> Response:
    return Response(BODY, media_type="application/json")


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The same bytes with nothing in between: what uvicorn alone costs."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
