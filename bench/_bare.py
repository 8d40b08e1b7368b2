"""The baseline: a bare FastAPI endpoint returning fixed bytes (BARE_BODY_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

BODY = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
app = FastAPI()


@app.get("/v1/clients/{client_id}/recommendations")
async def bare(client_id: str) -> Response:
    return Response(BODY, media_type="application/json")
