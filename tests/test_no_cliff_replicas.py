"""No cold-cache cliff across two real replicas (uvicorn processes) sharing a real Redis:
after a promotion each replica warms before switching, a list one replica computed
under the old version answers stale on the other, and a purchase posted to either
keeps the item out of every list, stale or new, on both. Polls against deadlines."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.bundle import Bundle
from tests.servers import free_port, serve, start_redis, until

Q = "/v1/clients/{}/recommendations?k=10&exclude=zz"


def _call(port: int, path: str, body: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read()), dict(answer.headers)


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


@pytest.fixture
def two(bundles: Path, tmp_path: Path) -> Iterator[tuple[int, int, Path, list[str]]]:
    """Two replicas on one Redis serving ``a`` of a directory of bundles ``a`` and ``b``
    (``b``: the same files as version ``v-b``); the bundle's clients, most active first."""
    original = next(p for p in bundles.iterdir() if p.is_dir())
    served = tmp_path / "served"
    for name in ("a", "b"):
        shutil.copytree(original, served / name)
    loaded = Bundle.load(original)
    manifest = served / "b" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(loaded.version, "v-b"))
    (served / "CURRENT").write_text("a")
    order = np.argsort(-np.diff(loaded.data.matrix.indptr), kind="stable")
    clients = [str(loaded.data.clients.ids[r]) for r in order[:40]]
    redis_port, a, b = free_port(), free_port(), free_port()
    server = start_redis(redis_port, tmp_path)
    env = {"redis_url": f"redis://127.0.0.1:{redis_port}/0", "warm_clients": "3"}
    processes = [serve(served, tmp_path / f"events-{p}.jsonl", p, **env) for p in (a, b)]
    try:
        yield a, b, served, clients
    finally:
        for process in [*processes, server]:
            process.kill()
            process.wait(timeout=30)


def test_promotion_across_replicas_warm_stale_and_every_event(
    two: tuple[int, int, Path, list[str]],
) -> None:
    a, b, served, clients = two
    warmed, who = clients[0], clients[20]
    first, _ = _call(a, Q.format(who))  # computed on a, stored in Redis under version a
    (served / "CURRENT").write_text("b")
    for port in (a, b):  # each warms, then switches
        assert _call(port, "/v1/model/reload", {})[0]["model_version"] == "v-b"
    hit, _ = _call(b, f"/v1/clients/{warmed}/recommendations?k=10")
    assert hit["cached"] is True and hit["model_version"] == "v-b"  # warm before the switch
    stale, headers = _call(b, Q.format(who))  # b never computed it: a's list, from Redis
    assert stale.get("stale") is True and headers["x-recommendation-stale"] == "true"
    assert stale["model_version"] == first["model_version"] and _ids(stale) == _ids(first)
    bought = _ids(stale)[0]
    event = {"client_id": who, "item_id": bought, "type": "purchase"}
    _call(b, "/v1/events", event)

    def gone_everywhere() -> bool:
        return all(bought not in _ids(_call(p, Q.format(who))[0]) for p in (a, b))

    until(gone_everywhere, 15, "the bought item stayed in a list")
    for port in (a, b):
        body, _ = _call(port, Q.format(who))
        assert bought not in _ids(body) and "degraded" not in body
