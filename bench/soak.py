"""Soak: a bounded run at a fixed request rate on 127.0.0.1 against the real service.

    .venv/bin/python bench/soak.py [--minutes 5] [--rate 200]

Open loop: requests start on schedule whether or not earlier ones finished, so a
slowing server shows as latency, not as a lower rate. The mix: 70 % client lists
(any client of the shared data, k of 5/10/20: cache hits and misses), 20 % basket
completions, 10 % purchase events (fsynced before their 200). Prints per minute:
requests, errors, p50/p99 and the server's RSS; then the totals and the events
acknowledged vs found in the event store. Exits 1 on any error.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from serve import events_parser, free_port, start, stop, train_bundle

from recsys.bundle import Bundle


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Mix:
    """The requests of the run, drawn from real client and item ids."""

    def __init__(self, bundle: Bundle, seed: int = 7) -> None:
        self.clients = bundle.data.clients.ids.tolist()
        self.items = bundle.data.items.ids.tolist()
        self.random = random.Random(seed)
        self.events = 0

    def next(self) -> tuple[str, str, dict[str, object] | None]:
        """(kind, path, JSON body or None for a GET)."""
        pick, r = self.random.random(), self.random
        client = r.choice(self.clients)
        if pick < 0.7:
            return "list", f"/v1/clients/{client}/recommendations?k={r.choice((5, 10, 20))}", None
        if pick < 0.9:
            body = {"items": r.sample(self.items, r.randint(1, 4)), "client_id": client, "k": 10}
            return "basket", "/v1/baskets/recommendations", body
        self.events += 1
        event = {"client_id": f"soak-{self.events}", "item_id": r.choice(self.items)}
        return "event", "/v1/events", event


class Connection:
    """One keep-alive HTTP/1.1 connection with a minimal client: a generic client
    library spent more CPU per request than the server it was measuring."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: object) -> int:
        """The status of one request (0 when the connection failed)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{'GET' if body is None else 'POST'} {path} HTTP/1.1\r\nhost: soak\r\n"
        if body is not None:
            head += f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        try:
            header = await self.reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", header)
            await self.reader.readexactly(int(length.group(1)) if length else 0)
            return int(header.split(b" ", 2)[1])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.writer.close()
            self.writer = None
            return 0


async def worker(port: int, queue: asyncio.Queue, out: list) -> None:  # type: ignore[type-arg]
    """Take (scheduled time, request) tickets; latency counts from the scheduled time,
    so a server that falls behind shows it (no coordinated omission)."""
    connection = Connection(port)
    while (ticket := await queue.get()) is not None:
        due, (kind, path, body) = ticket
        status = await connection.request(path, body)
        out.append((due, kind, status, time.perf_counter() - due))


async def drive(port: int, mix: Mix, rate: float, seconds: float, pid: int) -> tuple[list, list]:  # type: ignore[type-arg]
    """Schedule requests at ``rate`` per second for ``seconds`` over 64 connections;
    sample the server's RSS every 10 s."""
    results: list = []  # type: ignore[type-arg]
    rss = [(0.0, rss_mb(pid))]
    queue: asyncio.Queue = asyncio.Queue()  # type: ignore[type-arg]
    workers = [asyncio.create_task(worker(port, queue, results)) for _ in range(64)]
    begin, n = time.perf_counter(), 0
    while (now := time.perf_counter() - begin) < seconds:
        while n < now * rate:
            queue.put_nowait((begin + n / rate, mix.next()))
            n += 1
        if now - rss[-1][0] >= 10:
            rss.append((now, rss_mb(pid)))
        await asyncio.sleep(0.002)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    rss.append((time.perf_counter() - begin, rss_mb(pid)))
    return [(at - begin, *rest) for at, *rest in results], rss


def report(results: list, rss: list, minutes: int, events_file: Path) -> int:  # type: ignore[type-arg]
    """The per-minute table and the totals; the exit status (1 on any error)."""
    print(f"{'minute':>6}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>9}")
    for minute in range(minutes):
        part = [r for r in results if minute * 60 <= r[0] < (minute + 1) * 60]
        times = sorted(r[3] * 1000 for r in part) or [0.0]
        errors = sum(1 for r in part if r[2] != 200)
        memory = max((m for at, m in rss if at <= (minute + 1) * 60), default=float("nan"))
        p99 = times[int(0.99 * (len(times) - 1))]
        row = f"{minute + 1:>6}{len(part):>10}{errors:>8}{statistics.median(times):>9.2f}"
        print(f"{row}{p99:>9.2f}{memory:>9.0f}")
    errors = sum(1 for r in results if r[2] != 200)
    acknowledged = sum(1 for r in results if r[1] == "event" and r[2] == 200)
    found = sum(1 for line in events_file.read_text().splitlines() if '"soak-' in line)
    by_kind = {k: sum(1 for r in results if r[1] == k) for k in ("list", "basket", "event")}
    print(f"requests {len(results):,} {by_kind}, errors {errors}")
    print(f"RSS start {rss[0][1]:.0f} MB, end {rss[-1][1]:.0f} MB")
    print(f"events acknowledged {acknowledged:,}, found in the store {found:,}")
    return 1 if errors or found < acknowledged else 0


def main() -> None:
    parser = events_parser()
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundles, events = Path(tmp) / "bundles", Path(tmp) / "events.jsonl"
        train_bundle(args.events, args.format, bundles)
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": str(events),
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        }
        port = free_port()
        server = start("serving.app:create_app", port, env, 1)
        try:
            mix = Mix(Bundle.load(next(bundles.iterdir())))
            results, rss = asyncio.run(drive(port, mix, args.rate, args.minutes * 60, server.pid))
        finally:
            stop(server)
        print(f"\n{args.minutes} min at {args.rate:.0f} requests/s, 1 uvicorn worker")
        raise SystemExit(report(results, rss, args.minutes, events))


if __name__ == "__main__":
    main()
