"""Purchases the bundle was not trained on reach every replica of it: those accepted
while it trained (after its events were read, before it was stamped), and, in the
embedded mode, those made before a restart. Real Redis, real training, real service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.data import combine, load_events
from serving.app import create_app
from serving.settings import ServingSettings
from serving.stream import FIELD, follow, since, stream_client
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK, ROOT
from training import jobs
from training.cli import _events
from training.cli import app as cli

#: Quick training: popularity and rules only (the sources every list has).
TRAIN = ["--format", "online-retail", "--models", "popular", "--set", "rules.min_support=0.01"]


def _items(service: TestClient, who: str) -> list[str]:
    answer = service.get(f"/v1/clients/{quote(who, safe='')}/recommendations?k=10")
    assert answer.status_code == 200, answer.text
    return [item["item_id"] for item in answer.json()["items"]]


def _buy(service: TestClient, who: str, item: str) -> None:
    answer = service.post("/v1/events", json={"client_id": who, "item_id": item})
    assert answer.status_code == 200, answer.text


def _recent(service: TestClient, who: str) -> set[str]:
    return set(service.app.state.context.state.recent.get(who, set()))  # type: ignore[attr-defined]


def _until(check: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def _only_bundle(directory: Path) -> Path:
    (found,) = [p for p in directory.iterdir() if (p / "manifest.json").exists()]
    return found


def _train_cli(sample: Path, extra: Path, out: Path) -> Bundle:
    """``recsys train`` on the sample plus ``extra`` (MLflow in ``out``)."""
    args = [
        "train",
        "--events",
        str(sample),
        *TRAIN,
        "--out",
        str(out),
        "--extra-events",
        str(extra),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
        patch.chdir(out.parent)
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return Bundle.load(_only_bundle(out))


def _train_same(sample: Path, extra: Path, out: Path) -> Path:
    """What ``recsys train`` fits on the same events, without registering it: the
    lists the new bundle will serve, known before it is trained."""
    tree = jobs.parse_overrides(["rules.min_support=0.01"])
    clean = jobs.cleaning_config(tree)
    loaded = combine(
        load_events(sample, "online-retail", clean), load_events(extra, "events-log", clean)
    )
    models = jobs.serving_models(["popular"], tree)
    bundle = jobs.train(loaded, models, jobs.matrix_config(tree), jobs.rules_config(tree))
    return bundle.save(out / bundle.version)


def _order(entry: str) -> tuple[int, int]:
    """A stream id as numbers (``<ms>-<seq>``), the order Redis keeps."""
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def _last_entry(url: str, stream: str) -> str:
    (entry,) = redis.Redis.from_url(url).xrevrange(stream, count=1)
    return str(entry[0].decode())


def _past_the_second_of(entry: str) -> None:
    """Until the clock is past the second ``entry`` was written in: training lasts at
    least that long, so its bundle is stamped (in whole seconds) after the purchase."""
    moment = int(entry.partition("-")[0]) / 1000
    _until(lambda: int(time.time()) > int(moment), 2.0, "the clock does not move")


def test_a_purchase_during_training_reaches_the_new_bundles_replicas(
    redis_url: str, sample_data: Path, bundles: Path, tmp_path: Path
) -> None:
    """Export, a purchase, then the bundle trained on the export: a replica started
    from that bundle applies the purchase (the item leaves the client's list)."""
    stream = f"recsys:test:{uuid4().hex}"

    def on(served: Path, name: str) -> ServingSettings:  # a replica on the test's stream
        return settings_for(served, tmp_path / name, redis_url=redis_url, events_stream=stream)

    who, _ = a_client(bundles)
    with TestClient(create_app(on(bundles, "live")), client=LOOPBACK) as live:
        _buy(live, "someone", "85123A")  # an event the bundle is trained on
    export = tmp_path / "export.parquet"
    args = ["events", "export", "--out", str(export), "--redis-url", redis_url, "--stream", stream]
    exported = CliRunner().invoke(cli, args)
    assert exported.exit_code == 0, exported.output
    same = _train_same(sample_data, export, tmp_path / "preview")
    with TestClient(
        create_app(settings_for(same, tmp_path / "preview-serve")), client=LOOPBACK
    ) as preview:
        top = _items(preview, who)[0]  # what the new bundle will offer first
    with TestClient(create_app(on(bundles, "live")), client=LOOPBACK) as live:
        _buy(live, who, top)  # accepted while the bundle trains
    bought = _last_entry(redis_url, stream)
    _past_the_second_of(bought)
    trained = _train_cli(sample_data, export, tmp_path / "bundles")
    assert trained.fingerprint == Bundle.load(same).fingerprint  # the same lists
    assert _order(since(trained.created_at)) > _order(bought)  # stamped after the purchase
    assert trained.events_position is not None
    assert trained.events_position.stream_id is not None
    assert _order(trained.events_position.stream_id) < _order(bought)
    with TestClient(
        create_app(on(_only_bundle(tmp_path / "bundles"), "replica")), client=LOOPBACK
    ) as replica:
        _until(lambda: top in _recent(replica, who), 10, "the purchase was never applied")
        assert top not in _items(replica, who)


def test_training_from_the_stream_records_its_last_entry(redis_url: str, tmp_path: Path) -> None:
    """``--extra-events redis://…`` reads every entry (a forget record last too): the
    position is the stream's last entry, not the last purchase."""
    stream = f"recsys:test:{uuid4().hex}"
    writer = redis.Redis.from_url(redis_url)
    writer.xadd(stream, {FIELD: json.dumps({"client_id": "c", "item_id": "i", "event_id": "1"})})
    writer.xadd(stream, {FIELD: json.dumps({"type": "forget", "client_hash": "x"})})
    path, position = _events.extra_events_file(redis_url, tmp_path, stream)
    assert path.is_file() and position is not None
    assert position.stream_id == _last_entry(redis_url, stream)


def test_bundles_without_a_position_still_load(bundles: Path, tmp_path: Path) -> None:
    """Bundles written before the position was recorded load, with none."""
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(_only_bundle(bundles), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.pop("events_position", None)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert Bundle.load(copy).events_position is None


def test_an_embedded_restart_keeps_purchases_made_since_training(
    bundles: Path, tmp_path: Path
) -> None:
    """No Redis: the local event log is read back at start-up."""
    settings = settings_for(bundles, tmp_path)
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=LOOPBACK) as first:
        top = _items(first, who)[0]
        _buy(first, who, top)
        assert top not in _items(first, who)
    with TestClient(create_app(settings), client=LOOPBACK) as restarted:
        assert top in _recent(restarted, who)
        assert top not in _items(restarted, who)


def test_embedded_training_on_the_log_replays_what_came_after_it(
    sample_data: Path, bundles: Path, tmp_path: Path
) -> None:
    """``recsys train --extra-events <the service's log>`` records where its copy of the
    log ends; a purchase accepted while it trains is replayed by the restarted service,
    one it was trained on is not."""
    settings = settings_for(bundles, tmp_path / "serve")
    out, who = tmp_path / "bundles", a_client(bundles)[0]
    env = {**os.environ, "RECSYS_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env["PYTHONPATH"] = str(ROOT)  # run from tmp_path: its relative defaults are empty
    command = [sys.executable, "-c", "from training.cli import app; app()", "train"]
    command += ["--events", str(sample_data), *TRAIN, "--out", str(out)]
    command += ["--extra-events", str(settings.events_path)]
    with TestClient(create_app(settings), client=LOOPBACK) as live:
        _buy(live, who, "TRAINED-ON")
        training = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
        snapshot = out / "service-events.jsonl"
        _until(lambda: snapshot.exists() or training.poll() is not None, 120, "no log read")
        _buy(live, who, "DURING")  # after training read the log
        assert training.wait(timeout=300) == 0, training.stderr.read() if training.stderr else ""
    trained = Bundle.load(_only_bundle(out))
    assert trained.events_position is not None
    assert trained.events_position.log_offset == snapshot.stat().st_size
    with TestClient(
        create_app(settings_for(_only_bundle(out), tmp_path / "serve")), client=LOOPBACK
    ) as restarted:
        assert _recent(restarted, who) == {"DURING"}


def test_follow_survives_a_connection_of_another_event_loop(redis_url: str) -> None:
    """A client whose pooled connection belongs to a finished event loop (two lifespans
    of one app): the follower logs, reconnects and still applies every event."""
    stream = f"recsys:test:{uuid4().hex}"
    client = stream_client(redis_url)
    asyncio.run(client.ping())  # leaves a connection bound to that loop in the pool
    assert asyncio.run(_followed(client, redis_url, stream)) == [{"n": 1}]


async def _followed(client: Any, url: str, stream: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def apply(event: dict[str, Any]) -> None:
        seen.append(event)

    task = asyncio.create_task(follow(client, stream, apply, "0-0", block_ms=100))
    writer = aioredis.from_url(url)
    await writer.xadd(stream, {FIELD: orjson.dumps({"n": 1})})
    deadline = time.monotonic() + 10
    while not seen and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not task.done(), f"the follower ended: {task.exception()!r}"
    task.cancel()
    await writer.aclose()
    return seen


def test_a_bundle_that_read_an_empty_log_replays_all_of_it(tmp_path: Path) -> None:
    """Trained while the log was empty (offset 0, no last event): every line written since
    is new to the bundle, whatever time it carries (here one stamped before training)."""
    from recsys.bundle import EventsPosition
    from serving.event_store import EventStore

    log = tmp_path / "events.jsonl"
    line = '{"event_id":"e1","client_id":"c","item_id":"i","timestamp":"2020-01-01T00:00:00"}\n'
    log.write_text(line)
    empty = EventsPosition(log_offset=0, log_event_id=None)
    replayed = EventStore(log).read_after(empty, "2026-12-06T12:00:00+00:00")
    assert [e["event_id"] for e in replayed] == ["e1"]
    assert EventStore(log).read_after(None, "2026-12-06T12:00:00+00:00") == []


def test_a_swapped_bundle_holds_as_bought_since_training_only_what_it_did_not_learn(
    bundles: Path, tmp_path: Path
) -> None:
    """Embedded, hot reload: x is bought, a bundle trained up to x is promoted, y is bought
    in between. After the swap only y is "since training" (x is the new bundle's own)."""
    import shutil

    served = tmp_path / "bundles"
    source = next(p for p in bundles.iterdir() if p.is_dir())
    shutil.copytree(source, served / "A")
    (served / "CURRENT").write_text("A")
    who, bought = a_client(bundles)
    bundle = Bundle.load(served / "A")
    x, y = [str(i) for i in bundle.data.items.ids if str(i) not in bought][:2]
    settings = settings_for(served, tmp_path / "run", reload_interval_seconds=0.05)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        state = client.app.state.context.state  # type: ignore[attr-defined]
        assert client.post("/v1/events", json={"client_id": who, "item_id": x}).is_success
        log = settings.events_path.read_bytes()
        last = orjson.loads(log.splitlines()[-1])
        assert client.post("/v1/events", json={"client_id": who, "item_id": y}).is_success
        assert state.recent[who] == {x, y}
        shutil.copytree(served / "A", served / "B")
        manifest = json.loads((served / "B" / "manifest.json").read_text())
        manifest["version"] = "B-trained-up-to-x"
        manifest["events_position"] = {
            "stream_id": None,
            "log_offset": len(log),
            "log_event_id": str(last["event_id"]),
        }
        (served / "B" / "manifest.json").write_text(json.dumps(manifest))
        (served / "CURRENT").write_text("B")
        deadline = time.monotonic() + 30
        while state.version != "B-trained-up-to-x" or state.recent.get(who) != {y}:
            assert time.monotonic() < deadline, (state.version, state.recent.get(who))
            time.sleep(0.05)


def test_the_follower_stops_when_a_cancel_comes_back_as_another_error() -> None:
    """redis-py can turn a cancel inside a blocking read into a ConnectionError: the
    follower must still stop (a retrying one held the service's shutdown for ever)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from serving.stream import follow

    class Swallowing:  # the client side of that behaviour, nothing else
        swallow = True

        async def xread(self, *_: Any, **__: Any) -> Any:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError as error:
                if not self.swallow:
                    raise
                raise RedisConnectionError("read cancelled") from error

    async def apply(event: dict[str, Any]) -> None:
        raise AssertionError(event)

    async def stopped() -> bool:
        client = Swallowing()
        task = asyncio.create_task(follow(client, "s", apply))
        await asyncio.sleep(0.05)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        client.swallow = False  # a follower that kept going ends with the test, not never
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return task in done

    assert asyncio.run(stopped()), "the follower went on after its cancel"
