"""Body size limit, per-key rate limit, and events surviving a SIGKILL of the server."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.records import FileAccess
from serving.cache import LocalLRU
from tests.conftest import settings_for
from tests.servers import LOOPBACK, free_port, serve

ROOT = Path(__file__).resolve().parents[1]


def test_oversized_body_is_413(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, max_body_bytes=2_000)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        batch = {"events": [{"client_id": f"c{i}", "item_id": "i"} for i in range(200)]}
        refused = client.post("/v1/events", json=batch)
        assert refused.status_code == 413 and "max_body_bytes" in refused.json()["detail"]
        streamed = json.dumps(batch).encode()
        chunks = (streamed[i : i + 500] for i in range(0, len(streamed), 500))  # no length
        refused = client.post(
            "/v1/events", content=chunks, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 413 and "max_body_bytes" in refused.json()["detail"]
        assert client.post("/v1/events", json={"client_id": "c", "item_id": "i"}).status_code == 200


def test_rate_limit_per_key(bundles: Path, tmp_path: Path) -> None:
    access = FileAccess(tmp_path / "access.json")  # known keys: each has its own bucket
    a, b = access.add_key("a", ["read"]), access.add_key("b", ["read"])
    settings = settings_for(bundles, tmp_path, rate_limit_per_minute=3)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        minute = time.time() // 60
        codes = [
            client.get("/v1/clients/x/recommendations", headers={"X-API-Key": a}).status_code
            for _ in range(4)
        ]
        other = client.get("/v1/clients/x/recommendations", headers={"X-API-Key": b})
        assert other.status_code == 200  # keys are limited separately
        assert client.get("/healthz").status_code == 200  # probes are never limited
        limited = client.get("/v1/clients/x/recommendations", headers={"X-API-Key": a})
    # Judged within one window only: on a slow machine the minute may roll over mid-test
    # (then a's count starts again and its fifth request is allowed).
    if time.time() // 60 == minute:
        assert codes == [200, 200, 200, 429]
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) <= 60


def test_the_rate_limit_counts_each_request_once_whichever_layer_answers(
    bundles: Path, tmp_path: Path
) -> None:
    """Plain list requests are answered before FastAPI's stack and count there; one
    it passes on (a router-only filter) must not count again in the stack's limit."""
    settings = settings_for(bundles, tmp_path, rate_limit_per_minute=4)
    plain, routed = "/v1/clients/x/recommendations", "/v1/clients/x/recommendations?price_min=0"
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        minute = time.time() // 60
        codes = [client.get(path).status_code for path in (plain, routed, plain, routed, plain)]
        requests = client.get("/metrics").text
    if time.time() // 60 != minute:  # the window rolled over mid-test: nothing to judge
        return
    assert codes == [200, 200, 200, 200, 429]
    route = 'route="/v1/clients/{client_id}/recommendations"'
    assert f'recsys_requests_total{{{route},status="200"}} 4.0' in requests


def _post(port: int, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_acknowledged_events_survive_sigkill(bundles: Path, tmp_path: Path) -> None:
    events, port = tmp_path / "events.jsonl", free_port()
    server = serve(bundles, events, port)
    acknowledged = []
    try:
        for i in range(40):
            body = {"client_id": f"killed-{i}", "item_id": "85048"}
            if _post(port, body) == 200:
                acknowledged.append(body["client_id"])
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    stored = [json.loads(line)["client_id"] for line in events.read_text().splitlines()]
    assert acknowledged == [f"killed-{i}" for i in range(40)]
    assert set(acknowledged) <= set(stored)
    again = serve(bundles, events, port)  # restarts on the same store and appends to it
    try:
        assert _post(port, {"client_id": "after-restart", "item_id": "85048"}) == 200
    finally:
        again.kill()
        again.wait(timeout=30)
    assert (
        events.read_text()
        .splitlines()[-1]
        .startswith('{"type":"purchase","client_id":"after-restart"')
    )


def test_local_cache_and_its_client_index_stay_bounded() -> None:
    cache = LocalLRU(size=50, ttl=60)
    for n in range(500):  # many clients, many one-off queries: what a load run does
        cache.set(f"rec:v:c{n % 37}:q{n}", f"c{n % 37}", b"x")
    assert len(cache) == 50
    assert cache.indexed_keys() == 50  # evicted keys left the per-client index too
    cache.drop_client("c3")
    assert all(cache.get(f"rec:v:c3:q{n}") is None for n in range(500))
    assert cache.get(f"rec:v:c{499 % 37}:q499") == b"x"  # the newest survives
