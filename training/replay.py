"""The replay simulator behind ``recsys experiments simulate``.

Train on the events before the cut-off; run the real service in process (ASGI,
no network) with an experiment whose arms split the clients evenly; each client
active after the cut-off asks for its list once, just before its first later event
(the impression is stamped then); a purchase of a listed item within the window
counts as a conversion through the same attribution and report code as live
traffic.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import yaml

from recsys.data import LoadedEvents
from recsys.errors import ConfigError
from recsys.split import split_by_time
from training import jobs
from training.experiments import read_impressions

__all__ = ["simulate"]


def simulate(
    loaded: LoadedEvents,
    cutoff: str,
    arms: list[str],
    window: timedelta,
    k: int = 10,
    known_only: bool = True,
) -> dict[str, Any]:
    """Train before ``cutoff``, serve every later client its arm's list, report. With
    ``known_only`` (the offline evaluation's population) only clients with a purchase
    before the cut-off are served; else new clients too (cold start)."""
    from recsys.feedback import experiment_report, load_experiments

    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ConfigError("arms: name at least two different arms, e.g. popular,hybrid")
    split = split_by_time(loaded.events, cutoff)
    if split.train.empty or split.test.empty:
        raise ConfigError(f"cutoff: {cutoff} leaves no events before or after it")
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        _train(LoadedEvents(split.train, loaded.report), arms, work / "bundles")
        experiments = _experiments_file(work / "experiments.yaml", arms)
        known = set(split.train["client_id"].dropna().astype(str)) if known_only else None
        visits = _first_visits(split.test, known)
        asyncio.run(_serve(work, visits, k))
        impressions = read_impressions(str(work / "impressions.jsonl"))
        experiment = load_experiments(experiments).named("replay")
    purchases = split.test.assign(type="purchase")
    purchases["timestamp"] = pd.to_datetime(purchases["timestamp"], utc=True)
    return experiment_report(impressions, purchases, pd.DataFrame(), experiment, window)


def _train(loaded: LoadedEvents, arms: list[str], out: Path) -> None:
    names = sorted({"popular", *("hybrid" if a == "hybrid" else a for a in arms)})
    models = jobs.choose_models(names, {})
    bundle = jobs.train(loaded, models, jobs.matrix_config({}), jobs.rules_config({}))
    bundle.save(out / bundle.version)


def _experiments_file(path: Path, arms: list[str]) -> Path:
    """One experiment splitting clients evenly over ``arms`` (running now: the replay
    stamps impressions with the simulated time itself)."""
    share = 100 / len(arms)
    listed = [
        {"name": a, "share": share, "blend": None if a == "hybrid" else {a: 1.0}} for a in arms
    ]
    listed[-1]["share"] = 100 - share * (len(arms) - 1)
    body = {
        "experiments": [
            {"name": "replay", "control": arms[0], "start": "2000-01-01", "arms": listed}
        ]
    }
    path.write_text(yaml.safe_dump(body))
    return path


def _first_visits(test: pd.DataFrame, known: set[str] | None) -> pd.DataFrame:
    """Each client's first event after the cut-off (lines without a client cannot be
    served a list), of the ``known`` clients when given."""
    named = test.dropna(subset=["client_id"]).astype({"client_id": str})
    if known is not None:
        named = named[named["client_id"].isin(known)]
    first = named.groupby("client_id", observed=True)["timestamp"].min().reset_index()
    first["timestamp"] = pd.to_datetime(first["timestamp"], utc=True)
    return first


async def _serve(work: Path, visits: pd.DataFrame, k: int) -> None:
    """Every visit's list through the service's own ASGI app (fast path included)."""
    from serving.app import create_app
    from serving.settings import ServingSettings

    settings = ServingSettings(
        bundle_path=work / "bundles",
        experiments_path=work / "experiments.yaml",
        **{f"{n}_path": work / f"{n}.jsonl" for n in ("events", "impressions", "outcomes")},
        catalogue_path=work / "catalogue.jsonl",
        tombstones_path=work / "tombstones.txt",
        reload_interval_seconds=0,
        local_cache_size=0,
    )
    app = create_app(settings)
    async with _Lifespan(app):
        context = app.state.context
        for client, at in zip(visits["client_id"], visits["timestamp"], strict=True):
            # the list is shown just before the visit's first event
            context.impressions.clock = _at(at.timestamp() - 1.0)
            status = await _get(app, f"/v1/clients/{quote(client, safe='')}/recommendations", k)
            if status != 200:
                raise ConfigError(f"the service answered {status} for client {client!r}")
        await context.impressions.flush()


def _at(moment: float) -> Callable[[], float]:
    return lambda: moment


class _Lifespan:
    """Run an ASGI app's lifespan around a block."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def __aenter__(self) -> _Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise ConfigError(f"the service did not start: {answer}")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def _get(app: Any, path: str, k: int) -> int:
    """One GET through the app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": f"k={k}".encode(),
        "headers": [(b"host", b"replay")],
        "client": ("127.0.0.1", 0),
        "server": ("replay", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))
