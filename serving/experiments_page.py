"""The ``/ui/experiments`` page: the running (or latest) experiment's report, read
from this service's own logs, with a server-rendered SVG chart (no JavaScript, no CDN)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from recsys.feedback import Experiment, experiment_report
from serving.deps import Context
from serving.event_store import EventStore
from serving.impressions import decode
from serving.outcomes import OUTCOMES_STREAM
from serving.stream import FIELD, StreamEventStore

__all__ = ["chart", "page_report", "read_events", "read_outcomes"]

#: The attribution window of the page (the CLI takes ``--window-days``).
WINDOW = timedelta(days=7)


async def page_report(ctx: Context) -> tuple[Experiment | None, dict[str, Any] | None]:
    """The experiment shown (running today, else the latest) and its report."""
    experiments = ctx.current.experiments
    chosen = experiments.running(ctx.current.recommender.today())  # the service's day
    if chosen is None and experiments.experiments:
        chosen = max(experiments.experiments, key=lambda e: e.start)
    if chosen is None:
        return None, None
    await ctx.impressions.flush()
    impressions = await _read_impressions(ctx)
    events = await read_events(ctx.events)
    outcomes = await read_outcomes(ctx)
    found = await asyncio.to_thread(
        experiment_report, impressions, events, outcomes, chosen, WINDOW
    )
    return chosen, found


async def read_events(store: EventStore | StreamEventStore) -> pd.DataFrame:
    """Every event the service accepted (its file, or the stream and what Redis could
    not take)."""
    rows = await asyncio.to_thread(store.read_all)  # a file, or a stream's pending file
    if isinstance(store, StreamEventStore):
        rows += [orjson.loads(f[FIELD]) for _, f in await store.redis.xrange(store.stream)]
    return pd.DataFrame(rows)


async def _read_impressions(ctx: Context) -> pd.DataFrame:
    shown = ctx.impressions
    data = await asyncio.to_thread(_bytes, shown.path)  # a file, or what Redis could not take
    if shown.redis is not None:
        data += b"".join(f[FIELD] for _, f in await shown.redis.xrange(shown.stream))
    return pd.DataFrame(decode(data))


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def read_outcomes(ctx: Context) -> pd.DataFrame:
    """Every stored outcome (the file, or the Redis stream)."""
    if ctx.outcomes.redis is None:
        return pd.DataFrame(await asyncio.to_thread(ctx.outcomes.file.read_all))
    entries = await ctx.outcomes.redis.xrange(OUTCOMES_STREAM)
    return pd.DataFrame([orjson.loads(f[FIELD]) for _, f in entries])


def chart(found: dict[str, Any], width: int = 560, row: int = 44) -> str:
    """Conversion per arm as horizontal bars with their 95 % interval (SVG)."""
    arms = found["arms"]
    top = max([a["conversion_ci95"][1] for a in arms.values()] + [0.01])
    scale = (width - 190) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{row * len(arms) + 20}" role="img" aria-label="conversion per arm">'
    ]
    for n, (name, a) in enumerate(arms.items()):
        y = 10 + n * row
        low, high = (v * scale + 120 for v in a["conversion_ci95"])
        parts.append(f'<text x="0" y="{y + 20}" font-size="13">{_escape(name)}</text>')
        parts.append(
            f'<rect class="bar" x="120" y="{y + 6}" width="{a["conversion"] * scale:.1f}" '
            f'height="20" fill="#3b6fd8"/>'
        )
        parts.append(
            f'<line x1="{low:.1f}" x2="{high:.1f}" y1="{y + 16}" y2="{y + 16}" '
            'stroke="#1d2330" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{high + 6:.1f}" y="{y + 20}" font-size="12">{a["conversion"]:.1%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
