"""Per-request CPU of a cached list (a hit) in process: the service's ASGI app called
directly, no network, so only our Python is timed.

    .venv/bin/python bench/hit_cpu.py [--bundle DIR] [--hits 30000] [--rounds 5]
    PYTHONPATH=/tmp/hit-base .venv/bin/python bench/hit_cpu.py   # another checkout

The bundle is ``bench/serve.py``'s serving line-up trained on the shared data (into
``--bundle``, default ``/tmp/miss-cpu/bundles``, shared with ``bench/miss_cpu.py``;
reused when there). The app is built by ``serving.app.create_app`` with the bench's
settings, its lifespan run; one client's ``?k=10`` list is computed, then asked for
``--hits`` times per round (a fresh scope each time, as a server gives). Prints each
round's µs per hit (wall and process CPU, one thread) and their medians. Run it in
two checkouts (``git worktree add --detach /tmp/hit-base COMMIT``) to compare: the
code imported is the first ``serving`` on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from serve import bundle_parser, reused_bundles


def main() -> None:
    parser = bundle_parser(__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bundles = reused_bundles(args)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            RECSYS_BUNDLE_PATH=str(bundles),
            RECSYS_EVENTS_PATH=f"{tmp}/events.jsonl",
            RECSYS_RELOAD_INTERVAL_SECONDS="0",
        )
        rounds = asyncio.run(_measure(args.hits, args.rounds))
    for number, (wall, cpu) in enumerate(rounds, 1):
        print(f"round {number}: {wall:.2f} µs wall, {cpu:.2f} µs CPU per hit")
    print(f"median: {statistics.median(w for w, _ in rounds):.2f} µs wall, "
          f"{statistics.median(c for _, c in rounds):.2f} µs CPU per hit "
          f"({sys.modules['serving'].__file__})")  # fmt: skip


async def _measure(hits: int, rounds: int) -> list[tuple[float, float]]:
    from serving.app import create_app

    app = create_app()
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    async with app.router.lifespan_context(app):
        client = str(app.state.context.state.current.bundle.data.clients.ids[0])
        for _ in range(3):  # the first computes the list; the others are hits
            await app(_scope(client), receive, send)
        found = []
        for _ in range(rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(hits):
                await app(_scope(client), receive, send)
            found.append(((time.perf_counter() - wall) / hits * 1e6,
                          (time.process_time() - cpu) / hits * 1e6))  # fmt: skip
    if set(sent) != {200}:
        raise SystemExit(f"answers other than 200: {sorted(set(sent))}")
    return found


def _scope(client: str) -> dict[str, Any]:
    path = f"/v1/clients/{client}/recommendations"
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"k=10",
        "root_path": "", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip


if __name__ == "__main__":
    main()
