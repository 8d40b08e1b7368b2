"""Replicas on one Redis: how fast a purchase reaches another replica, and 1 vs 2 workers.

    .venv/bin/python bench/replicas.py [--events PATH] [--purchases 200] [--seconds 8]

(a) Propagation: two replicas (separate processes) on one redis-server; for each of
N clients, read its list on replica B (now cached there), post its top item as a
purchase to replica A, then poll B every 2 ms until the item is gone. Prints p50,
p99 and max of that delay (polling adds up to 2 ms).
(b) Scaling: `uvicorn --workers 1` then `--workers 2` with Redis, wrk on the cached
list of 500 clients (64 connections). wrk shares the 2 cores with the workers, so the
ratio is what this machine can show, not what two free cores would.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from serve import events_parser, free_port, start, stop, trained, wrk

LIST = """
local ids = {%s}
request = function()
  return wrk.format("GET", "/v1/clients/" .. ids[math.random(#ids)] .. "/recommendations?k=10")
end
"""


def redis_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    command = ["redis-server", "--port", str(port), "--save", "", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return process


def top_item(port: int, client: str) -> str:
    url = f"http://127.0.0.1:{port}/v1/clients/{client}/recommendations?k=5"
    return str(json.loads(urllib.request.urlopen(url).read())["items"][0]["item_id"])


def propagation(a: int, b: int, clients: list[str]) -> list[float]:
    """Seconds from a purchase accepted by A to B's list no longer showing the item."""
    delays = []
    for client in clients:
        item = top_item(b, client)  # B computes and caches the list
        body = json.dumps({"client_id": client, "item_id": item}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{a}/v1/events", data=body)
        request.add_header("Content-Type", "application/json")
        posted = time.perf_counter()
        urllib.request.urlopen(request).read()
        while top_item(b, client) == item:
            time.sleep(0.002)
        delays.append(time.perf_counter() - posted)
    return delays


def scaling(env: dict[str, str], ids: list[str], seconds: int, tmp: Path) -> dict[int, float]:
    """Cached-list requests/s with 1 and 2 workers."""
    script = tmp / "lists.lua"
    script.write_text(LIST % ", ".join(f'"{i}"' for i in ids))
    rps = {}
    for workers in (1, 2):
        port = free_port()
        server = start("serving.app:create_app", port, env, workers)
        try:
            wrk(f"http://127.0.0.1:{port}/", 2, 64, str(script))  # warm the caches
            rps[workers] = wrk(f"http://127.0.0.1:{port}/", seconds, 64, str(script))["rps"]
        finally:
            stop(server)
    return rps


def main() -> None:
    parser = events_parser()
    parser.add_argument("--purchases", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bundles, bundle = trained(args, tmp)
        ids = bundle.data.clients.ids.tolist()
        redis_port = free_port()
        redis = redis_server(redis_port, tmp)
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": str(tmp / "pending.jsonl"),
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
            "RECSYS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        }
        a_port, b_port = free_port(), free_port()
        a, b = (start("serving.app:create_app", p, env, 1) for p in (a_port, b_port))
        try:
            delays = propagation(a_port, b_port, ids[: args.purchases])
        finally:
            stop(a)
            stop(b)
        rps = scaling(env, ids[1000:1500], args.seconds, tmp)
        redis.kill()
    ms = sorted(d * 1000 for d in delays)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(
        f"propagation A → B over {len(ms)} purchases: p50 {statistics.median(ms):.1f} ms, "
        f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(
        f"cached lists with Redis: 1 worker {rps[1]:,.0f} req/s, 2 workers {rps[2]:,.0f} "
        f"req/s ({rps[2] / rps[1]:.2f} ×; wrk on the same 2 cores)"
    )


if __name__ == "__main__":
    main()
