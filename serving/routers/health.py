"""Liveness, readiness, Prometheus metrics, the served model, and reload."""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.deps import AdminRecord, Context, Ctx
from serving.drift import age_seconds
from serving.model_page import read_record, retrain_view
from serving.schemas import AUTH_RESPONSES, ModelInfo, RetrainInfo
from serving.stream import StreamEventStore
from serving.untrained import reload as reload_bundle
from serving.warm import warm

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _events_mode(ctx: Context, redis_ok: bool) -> str:
    store = ctx.events
    if not isinstance(store, StreamEventStore):
        return "file"
    if store.healthy and redis_ok:
        return "stream"
    return "local file (Redis down; replayed when it answers)"


@router.get("/readyz")
async def readyz(ctx: Ctx) -> JSONResponse:
    """200 once a model is loaded; Redis down is reported as ``degraded``, not fatal."""
    state, cache = ctx.state, ctx.cache
    redis_ok = await cache.ping()
    body = {
        "status": "ready" if redis_ok else "degraded",
        "model_version": state.version,
        "model_source": None if state.current is None else state.current.origin,
        "cache": cache.backend if redis_ok else f"{cache.backend} unreachable, serving in-process",
        "last_reload_error": state.last_error,
        "events": _events_mode(ctx, redis_ok),
    }
    if ctx.windows is not None:
        body["rate_limit"] = ctx.windows.mode
    if state.current is None:
        body["status"] = "not ready"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: Ctx) -> Response:
    """Prometheus text format."""
    state, cache, telemetry = ctx.state, ctx.cache, ctx.metrics
    telemetry.redis_up.set(1 if cache.healthy else 0)
    if state.current is not None:
        telemetry.model.clear()
        telemetry.model.labels(state.current.version).set(1)
        telemetry.model_age.set(age_seconds(state.current.bundle.created_at))
    else:  # no bundle yet: no age (an alert on it stays quiet; /readyz says 503)
        telemetry.model_age.set(float("nan"))
    return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/model", response_model=ModelInfo)
async def model(ctx: Ctx) -> ModelInfo:
    """Version, training time and age, data fingerprint and metrics of the served bundle.

    ``retrain``: what ``recsys retrain`` decided about it, with the backtest and what it
    changed from production (``null`` for a bundle ``recsys train`` made)."""
    current = ctx.current
    m = current.bundle.manifest()
    view = retrain_view(await asyncio.to_thread(read_record, current.source))
    return ModelInfo(
        version=m["version"],
        created_at=m["created_at"],
        age_seconds=age_seconds(m["created_at"]),
        data_fingerprint=m["data_fingerprint"],
        clients=m["clients"],
        items=m["items"],
        models=sorted(m["models"]),
        metrics=m["metrics"],
        notes={n: note for n, s in current.bundle.models.items() if (note := s.fit_note())},
        retrain=None if view is None else RetrainInfo.model_validate(view),
    )


@router.post(
    "/v1/model/reload",
    responses={
        **AUTH_RESPONSES,
        409: {"description": "the bundle was refused; the old one serves"},
    },
)
async def reload(ctx: Ctx, record: AdminRecord) -> JSONResponse:
    """Load the bundle the settings point at now; a broken one is refused (409)."""
    ok = await reload_bundle(ctx.state, ctx.events, partial(warm, ctx))
    body = {"model_version": ctx.state.version, "error": ctx.state.last_error}
    await record("model.reload", str(ctx.state.version), {"loaded": ok})
    return JSONResponse(body, status_code=200 if ok else 409)
