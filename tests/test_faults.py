"""Faults with real parts: MLflow unreachable, Redis stopped and restarted under load,
and what the logs may never contain."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from recsys.bundle import Bundle
from serving.app import create_app
from tests.conftest import ROOT, a_client, settings_for
from tests.servers import LOOPBACK, free_port, serve, start_redis, until


def test_mlflow_unreachable_serves_the_local_bundle_and_says_so(
    bundles: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(
        create_app(settings_for(bundles, tmp_path, mlflow_tracking_uri=dead)), client=LOOPBACK
    ) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        source = ready.json()["model_source"]
        assert source.startswith("local bundle pointer (MLflow http://127.0.0.1:"), source
        assert c.get(f"/v1/clients/{a_client(bundles)[0]}/recommendations").status_code == 200


def test_the_mlflow_alias_chooses_the_bundle(bundles: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{bundles.parent / 'mlflow.db'}"  # where the fixture's train logged
    client = MlflowClient(store)
    (version,) = client.search_model_versions("name='recsys'")
    client.set_registered_model_alias("recsys", "production", version.version)
    with TestClient(
        create_app(settings_for(bundles, tmp_path, mlflow_tracking_uri=store)), client=LOOPBACK
    ) as c:
        ready = c.get("/readyz").json()
        assert ready["model_source"] == "MLflow recsys@production"
        assert ready["model_version"] == Path(version.tags["bundle_dir"]).name


Log = list[tuple[float, int, bool]]


def _hammer(port: int, clients: list[str], stop: threading.Event, log: Log) -> None:
    """Requests in a loop until ``stop``: (time it was sent, status, cached) per request."""
    n = 0
    while not stop.is_set():
        url = f"http://127.0.0.1:{port}/v1/clients/{clients[n % len(clients)]}/recommendations"
        n += 1
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                log.append((sent, response.status, json.loads(response.read())["cached"]))
        except urllib.error.HTTPError as error:
            log.append((sent, error.code, False))
        except OSError:
            log.append((sent, 0, False))


def _sent_after(log: Log, start: float, last: int | None = None) -> list[bool]:
    """``cached`` of the answered requests sent at or after ``start`` (the ``last`` ones)."""
    found = [cached for sent, _, cached in list(log) if sent >= start]
    return found[-last:] if last else found


def _readyz(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_redis_stopped_and_restarted_under_load(bundles: Path, tmp_path: Path) -> None:
    """Polled, not slept: each phase lasts until its requests are in (deadlines only
    fail a test that is really stuck), and the requests judged are those sent after
    the event (Redis dead / Redis back), so no window depends on the machine's speed."""
    redis_port, port = free_port(), free_port()
    redis = start_redis(redis_port, tmp_path)
    url = f"redis://127.0.0.1:{redis_port}/0"
    # No in-process level: every hit must come from Redis.
    server = serve(bundles, tmp_path / "ev.jsonl", port, redis_url=url, local_cache_size="0")
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    clients = [str(c) for c in bundle.data.clients.ids[:20]]
    stop, log = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_hammer, args=(port, clients, stop, log)) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        started = time.monotonic()

        def warm(since: float) -> bool:  # the last 40 requests sent since then: > 80 % hits
            window = _sent_after(log, since, 40)
            return len(window) == 40 and sum(window) / 40 > 0.8

        until(lambda: warm(started), 60, "the cache warms up")
        before = sum(_sent_after(log, started, 40)) / 40
        redis.terminate()
        redis.wait(timeout=30)
        stopped = time.monotonic()  # Redis is gone: nothing sent from now on can hit
        until(lambda: len(_sent_after(log, stopped)) >= 80, 60, "80 answers with Redis down")
        down = _readyz(port)
        while_down = _sent_after(log, stopped)
        redis = start_redis(redis_port, tmp_path)  # same port, empty: lists are recomputed
        until(lambda: _readyz(port)["status"] == "ready", 30, "ready again after the restart")
        back = time.monotonic()
        until(lambda: warm(back), 60, "the cache warms up again")
        after = sum(_sent_after(log, back, 40)) / 40
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.terminate()
        server.wait(timeout=30)
        redis.terminate()
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    print(f"\n{len(log)} requests; hit rate before {before:.2f}, after the restart {after:.2f}")
    assert {status for _, status, _ in log} == {200}, "a request failed"
    assert down["status"] == "degraded"
    assert len(while_down) >= 80 and not any(while_down)  # nothing to hit while down


def test_no_key_or_event_payload_in_the_logs(bundles: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    read_key, admin_key = "read-KEY-0f3a9c", "admin-KEY-77d1e2"
    server = serve(
        bundles, tmp_path / "ev.jsonl", port, log, read_api_key=read_key, admin_api_key=admin_key
    )
    secret_client, secret_item = "client-PAYLOAD-5521", "item-PAYLOAD-9034"
    try:
        body = json.dumps({"client_id": secret_client, "item_id": secret_item, "price": -1})
        for key, data in ((admin_key, body), ("wrong-KEY-1", body), (admin_key, body[:-5])):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/events",
                data=data.encode(),
                headers={"content-type": "application/json", "x-api-key": key},
                method="POST",
            )
            try:
                urllib.request.urlopen(request, timeout=10).read()
            except urllib.error.HTTPError as error:
                assert error.code in (403, 422)
        reader = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/clients/x/recommendations",
            headers={"x-api-key": read_key},
        )
        assert urllib.request.urlopen(reader, timeout=10).status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert "POST /v1/events" in text  # the access log is on: the check below means something
    for secret in (read_key, admin_key, "wrong-KEY-1", secret_client, secret_item):
        assert secret not in text, secret


@pytest.mark.parametrize("broken", ["association rules", "analyst rules"])
def test_a_corrupted_rules_file_is_refused_and_the_old_bundle_kept(
    bundles: Path, tmp_path: Path, broken: str
) -> None:
    served, rules = tmp_path / "bundles", tmp_path / "cross_sell.yaml"
    original = next(p for p in bundles.iterdir() if p.is_dir())
    shutil.copytree(original, served / original.name)
    shutil.copy(ROOT / "examples" / "cross_sell.yaml", rules)
    settings = settings_for(served, tmp_path, admin_api_key="a")
    settings = settings.model_copy(update={"cross_sell_path": rules})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        old = c.get("/v1/model").json()["version"]
        newer = served / "zz-newer"
        shutil.copytree(original, newer)
        (newer / "manifest.json").write_text(
            (newer / "manifest.json").read_text().replace(old, "v-newer")
        )
        if broken == "association rules":
            (newer / "rules.npz").write_bytes(b"PK\x03\x04 not a zip")
        else:
            rules.write_text("version: 2\nrules:\n  - id: x\n    offer: [\n")  # YAML cut short
        (served / "CURRENT").write_text("zz-newer")
        refused = c.post("/v1/model/reload", headers={"X-API-Key": "a"})
        assert refused.status_code == 409, refused.text
        assert c.get("/v1/model").json()["version"] == old  # the old one keeps serving
        assert c.get("/readyz").json()["last_reload_error"]
        assert c.get("/v1/clients/x/recommendations").status_code == 200


def test_a_promoted_bundle_is_picked_up_in_the_background(bundles: Path, tmp_path: Path) -> None:
    served = tmp_path / "bundles"
    original = next(p for p in bundles.iterdir() if p.is_dir())
    shutil.copytree(original, served / original.name)
    settings = settings_for(served, tmp_path).model_copy(update={"reload_interval_seconds": 0.2})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        old = c.get("/v1/model").json()["version"]
        state = c.app.state.context.state  # type: ignore[attr-defined]
        looks: list[float] = []  # when each of the watcher's checks for a new bundle began
        check = state.changed

        def counted() -> bool:
            looks.append(time.monotonic())
            return bool(check())

        state.changed = counted  # what the watcher calls on every round
        (served / "CURRENT").write_text("does-not-exist")  # a bad pointer: looked at, refused
        written = time.monotonic()
        # Two checks begun after the write: the second begins only once the first one
        # (and any reload it started) is over, so the watcher has judged the bad pointer.
        until(lambda: sum(t > written for t in looks) >= 2, 30, "the watcher looks twice")
        assert c.get("/v1/model").json()["version"] == old
        newer = served / "zz-newer"
        shutil.copytree(original, newer)
        (newer / "manifest.json").write_text(
            (newer / "manifest.json").read_text().replace(old, "v-promoted")
        )
        (served / "CURRENT").write_text("zz-newer")  # what `recsys promote` writes
        until(
            lambda: c.get("/v1/model").json()["version"] == "v-promoted",
            30,
            "the promoted bundle is served",
        )
        assert c.get("/v1/clients/x/recommendations").json()["model_version"] == "v-promoted"
