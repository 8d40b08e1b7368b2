"""The catalogue: importing 100k items, and how fast an item leaves a cached list.

    .venv/bin/python bench/catalogue.py [--events PATH] [--items 100000] [--changes 200]

(a) Import: a synthetic catalogue of N items (titles, categories, prices, tags, 10 %
out of stock) written as CSV, then `recsys catalogue import` into the local change
log and into Redis (wall time of the command, process start included).
(b) Availability: two replicas (separate processes) on one redis-server holding that
catalogue; for each of M clients, read its list on replica B (now cached there), mark
its top item out of stock through replica A, then poll B every 2 ms until the item is
gone. Prints p50, p99 and max of that delay (polling adds up to 2 ms); then the same
with one embedded process (no Redis: PUT and GET on the same server).
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from replicas import redis_server, top_item
from serve import events_parser, free_port, start, stop, trained


def write_items(path: Path, n: int, known: list[str]) -> None:
    """``n`` items: the bundle's own first, then new ones; every tenth out of stock."""
    ids = (known + [f"N{i:07d}" for i in range(max(0, n - len(known)))])[:n]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["item_id", "title", "category", "price", "available", "tags"])
        for i, item in enumerate(ids):
            tags = "|".join(t for t, every in (("sale", 7), ("eco", 11)) if i % every == 0)
            title, price = f"Item {i} in colour {i % 13}", i % 90 + 0.5
            out.writerow([item, title, f"c{i % 40}", price, i % 10 != 9, tags])


def timed_import(items: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    cli = "from training.cli import app; app()"
    command = [sys.executable, "-c", cli, "catalogue", "import", "--items", str(items)]
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def put_unavailable(port: int, item: str) -> None:
    body = json.dumps({"available": False}).encode()
    url = f"http://127.0.0.1:{port}/v1/items/{item}"
    request = urllib.request.Request(url, data=body, method="PUT")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request).read()


def propagation(a: int, b: int, clients: list[str]) -> list[float]:
    """Seconds from an item marked out of stock on A to B's cached list without it."""
    delays = []
    for client in clients:
        top_item(b, client)
        item = top_item(b, client)  # cached on B now
        put = time.perf_counter()
        put_unavailable(a, item)
        while top_item(b, client) == item:
            time.sleep(0.002)
        delays.append(time.perf_counter() - put)
    return delays


def summary(label: str, delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return (
        f"{label} over {len(ms)} items: p50 {statistics.median(ms):.1f} ms, "
        f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


def main() -> None:
    parser = events_parser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bundles, bundle = trained(args, tmp)
        clients = bundle.data.clients.ids.tolist()[: args.changes]
        items = tmp / "items.csv"
        write_items(items, args.items, [str(i) for i in bundle.data.items.ids.tolist()])
        redis_port = free_port()
        redis = redis_server(redis_port, tmp)
        url = f"redis://127.0.0.1:{redis_port}/0"
        local = {"RECSYS_CATALOGUE_PATH": str(tmp / "catalogue.jsonl")}
        seconds = {
            "local": timed_import(items, _python_env() | local),
            "redis": timed_import(items, _python_env() | {"RECSYS_REDIS_URL": url}),
        }
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": str(tmp / "pending.jsonl"),
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        }
        a_port, b_port, one_port = free_port(), free_port(), free_port()
        shared = env | {"RECSYS_REDIS_URL": url}
        a, b = (start("serving.app:create_app", p, shared, 1) for p in (a_port, b_port))
        try:
            across = propagation(a_port, b_port, clients)
        finally:
            stop(a)
            stop(b)
        one = start("serving.app:create_app", one_port, env | local, 1)
        try:
            alone = propagation(one_port, one_port, clients[::-1])
        finally:
            stop(one)
        redis.kill()
    print(
        f"import of {args.items:,} items: local change log {seconds['local']:.1f} s, "
        f"Redis {seconds['redis']:.1f} s (whole command, interpreter start included)"
    )
    print(summary("out of stock on replica A → gone from B's cached list", across))
    print(summary("out of stock → gone from the cached list, one embedded process", alone))


def _python_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "RECSYS_REDIS_URL"}


if __name__ == "__main__":
    main()
