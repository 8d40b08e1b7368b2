"""All-miss load alone (``bench/serve.py``'s run (c)), rounds against one server: per
round the rps, p50, p99, the share of degraded answers and the real lists a second.

    .venv/bin/python bench/all_miss.py [--bundle DIR] [--rounds 4] [--seconds 8]
                                       [--disturb SECONDS] [--redis]
    PYTHONPATH=/tmp/base .venv/bin/python bench/all_miss.py   # another checkout's server

The bundle is ``bench/serve.py``'s serving line-up trained on the shared data (into
``--bundle``, default ``/tmp/miss-cpu/bundles``, shared with ``bench/miss_cpu.py``;
reused when there). One uvicorn worker with the bench's settings, 64 connections of
wrk, each request a new query for one of 500 clients. Rounds follow each other on the
same server: a state the load settles in shows as rounds alike. ``--disturb S``: two
processes spin on the CPU for the first S seconds of round 1 (a noisy neighbour, a
stall), so the later rounds show whether the load leaves the state that put it in. ``--redis``:
the service on a redis-server of its own (the list cache and the feature store there, as
replicas run), so each list also reads and writes through Redis.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import _switch
from replicas import redis_server
from serve import UNCACHED, _degraded, bundle_parser, free_port, reused_bundles, start, stop, wrk


def main() -> None:
    parser = bundle_parser(__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--disturb", type=float, default=0.0, help="seconds of CPU hogs")
    parser.add_argument("--redis", action="store_true", help="cache and features in Redis")
    args = parser.parse_args()
    bundles = reused_bundles(args)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": f"{tmp}/events.jsonl",
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
            "RECSYS_EXPERIMENTS_PATH": str(_switch.no_experiments(Path(tmp))),
            "RECSYS_STALE_SECONDS": "2",
        }
        redis = None
        if args.redis:
            redis = redis_server(redis_port := free_port(), Path(tmp))
            env["RECSYS_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        port = free_port()
        server = start("serving.app:create_app", port, env, 1)
        try:
            for number in range(args.rounds):
                hogs = _hogs(args.disturb) if number == 0 and args.disturb > 0 else []
                _round(port, Path(tmp), bundles, number, args.seconds)
                for hog in hogs:
                    hog.wait()
        finally:
            stop(server)
            if redis is not None:
                redis.kill()


def _hogs(seconds: float) -> list[subprocess.Popen[bytes]]:
    """Two processes spinning on the CPU for ``seconds``."""
    spin = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]


def _round(port: int, tmp: Path, bundles: Path, number: int, seconds: int) -> None:
    from recsys.bundle import Bundle

    ids = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir())).data.clients.ids[:500]
    script = tmp / f"uncached{number}.lua"
    script.write_text(UNCACHED % (", ".join(f'"{i}"' for i in ids.tolist()), number))
    before = _degraded(port)
    found = wrk(f"http://127.0.0.1:{port}/", seconds, 64, str(script))
    share = (_degraded(port) - before) / max(found["requests"], 1)
    print(
        f"round {number + 1}: {found['rps']:,.0f} rps, p50 {found['p50']:.1f} ms, "
        f"p99 {found['p99']:.1f} ms, {share:.0%} degraded, "
        f"{found['rps'] * (1 - share):,.0f} real lists a second, errors {found['errors']:.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
