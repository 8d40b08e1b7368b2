"""Load test on 127.0.0.1 with wrk: (a) a bare FastAPI endpoint returning the same
bytes, (b) our cached recommendation endpoint, (c) our uncached path.

    .venv/bin/python bench/serve.py [--events PATH] [--seconds 10] [--connections 64]

Needs `wrk` (Debian package). Each server is one uvicorn worker (uvloop,
httptools) sharing the 2 cores with wrk. Prints rps and p50/p99 for each and the
ratios b/a and c/a.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared/data/online_retail_ii_2009_2010.csv.gz"
UNCACHED = """
local ids = {%s}
request = function()
  local id = ids[math.random(#ids)]
  local query = "/recommendations?k=10&exclude=x" .. math.random(1e9)
  return wrk.format("GET", "/v1/clients/" .. id .. query)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(target: str, port: int, env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    if target.endswith("create_app"):
        command.append("--factory")
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=HERE)
    for _ in range(600):
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/healthz"
                if "create_app" in target
                else f"http://127.0.0.1:{port}/docs",
                timeout=1,
            )
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{target} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, so a multi-worker uvicorn takes its workers down with it."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default=str(SHARED))
    parser.add_argument("--format", default="online-retail")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, both servers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        bundles = Path(tmp) / "bundles"
        subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "from recsys.data import load_events; from training import jobs; "
                    f"l = load_events({args.events!r}, {args.format!r}); "
                    "b = jobs.train(l, jobs.choose_models(['popular','als','itemknn'], {}), "
                    "jobs.matrix_config({}), jobs.rules_config({})); "
                    f"b.save(__import__('pathlib').Path({str(bundles)!r}) / b.version)"
                ),
            ],
            check=True,
        )
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": f"{tmp}/events.jsonl",
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        }
        ours_port, bare_port = free_port(), free_port()
        ours = start("serving.app:create_app", ours_port, env, args.workers)
        try:
            from recsys.bundle import Bundle

            bundle = Bundle.load(next(bundles.iterdir()))
            ids = bundle.data.clients.ids[:500].tolist()
            client = ids[0]
            url = f"http://127.0.0.1:{ours_port}/v1/clients/{client}/recommendations?k=10"
            body = urllib.request.urlopen(url).read()
            body = urllib.request.urlopen(url).read()  # the cached bytes
            body_file = Path(tmp) / "body.json"
            body_file.write_bytes(body)
            bare = start("_bare:app", bare_port, {"BARE_BODY_FILE": str(body_file)}, args.workers)
            try:
                a = wrk(
                    f"http://127.0.0.1:{bare_port}/v1/clients/{client}/recommendations?k=10",
                    args.seconds,
                    args.connections,
                )
            finally:
                stop(bare)
            b = wrk(url, args.seconds, args.connections)
            script = Path(tmp) / "uncached.lua"
            script.write_text(UNCACHED % ", ".join(f'"{i}"' for i in ids))
            c = wrk(f"http://127.0.0.1:{ours_port}/", args.seconds, args.connections, str(script))
        finally:
            stop(ours)
    print(
        f"\nresponse body: {len(body):,} bytes; "
        f"{args.connections} connections, {args.seconds}s each, {args.workers} worker(s) per server"
    )
    print(f"{'':<22}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in (("(a) bare FastAPI", a), ("(b) ours, cached", b), ("(c) ours, uncached", c)):
        print(f"{name:<22}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>10}")
    print(
        f"b/a rps {b['rps'] / a['rps']:.2f} (target ≥ 0.8), b/a p99 {b['p99'] / a['p99']:.2f} "
        f"(target ≤ 1.5); c/a rps {c['rps'] / a['rps']:.2f} (target ≥ 0.1)"
    )


if __name__ == "__main__":
    main()
