"""Load test on 127.0.0.1 with wrk: (r) a plain ASGI app and (a) a bare FastAPI
endpoint returning the same bytes, (b) our cached recommendation endpoint, (c) our
uncached path (a new query each request: every one a miss, answered within the
latency budget or degraded), and the switch scenarios of ``bench/_switch.py``:
(s) a cached load over 500 clients, (p) the same through a promotion, (x) the same
through an experiment starting. With ``--catalogue``, also (d) the cached endpoint
of a second server holding a catalogue of every item (10 % out of stock, 10 % with
a closing window), whose cached lists are checked against the catalogue on every read.

    .venv/bin/python bench/serve.py [--events PATH] [--seconds 8] [--rounds 3]
                                    [--connections 64] [--workers 1] [--catalogue] [--json]

Needs `wrk` (Debian package). Each server is one uvicorn worker (uvloop,
httptools) sharing the 2 cores with wrk. The three runs are repeated in rounds
(a, b, c, a, b, c, ...) because single figures swing ±25 % on a shared machine;
prints each round, then the medians and the ratios b/a and c/a of the medians.
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
from typing import Any

import _switch
from _serve_report import report

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared/data/online_retail_ii_2009_2010.csv.gz"
UNCACHED = """
local ids = {%s}
request = function()
  local id = ids[math.random(#ids)]
  -- the round in the key: wrk seeds math.random alike in every run
  local query = "/recommendations?k=10&exclude=r%d-" .. math.random(1e9)
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
                else f"http://127.0.0.1:{port}/v1/clients/x/recommendations",
                timeout=1,
            )
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{target} did not start")


#: The serving line-up trained on the shared data for the in-process benches
#: (``hit_cpu``, ``miss_cpu``, ``all_miss``): trained by the first, reused by the others.
REUSED_BUNDLES = "/tmp/miss-cpu/bundles"


def bundle_parser(description: str) -> argparse.ArgumentParser:
    """:func:`events_parser` with ``--bundle`` (default :data:`REUSED_BUNDLES`)."""
    parser = events_parser()
    parser.description = description
    parser.add_argument("--bundle", default=REUSED_BUNDLES)
    return parser


def reused_bundles(args: argparse.Namespace) -> Path:
    """``args.bundle``, the serving line-up trained into it from ``args.events`` when it
    holds no bundle yet."""
    bundles = Path(args.bundle)
    if not bundles.is_dir() or not any(p.is_dir() for p in bundles.iterdir()):
        train_bundle(args.events, args.format, bundles)
    return bundles


def events_parser() -> argparse.ArgumentParser:
    """The options every service benchmark takes: the events file and its format."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default=str(SHARED))
    parser.add_argument("--format", default="online-retail")
    return parser


def trained(args: argparse.Namespace, tmp: Path) -> tuple[Path, Any]:
    """The serving line-up trained on ``--events`` into ``tmp``/bundles: that
    directory (``RECSYS_BUNDLE_PATH``) and the bundle, loaded."""
    from recsys.bundle import Bundle

    bundles = tmp / "bundles"
    return bundles, Bundle.load(train_bundle(args.events, args.format, bundles))


def train_bundle(events: str, format_: str, out: Path, tree: Path | None = None) -> Path:
    """The serving line-up (popular, ALS, EASE, RP3beta, rules) trained into ``out``;
    the bundle's own directory. ``tree``: trained by the code checked out there."""
    code = (
        (f"import sys; sys.path.insert(0, {str(tree)!r}); " if tree is not None else "")
        + "from recsys.data import load_events; from training import jobs; "
        f"l = load_events({events!r}, {format_!r}); "
        "b = jobs.train(l, jobs.choose_models(['popular','als','ease','rp3beta'], {}), "
        "jobs.matrix_config({}), jobs.rules_config({})); "
        f"b.save(__import__('pathlib').Path({str(out)!r}) / b.version)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return next(p for p in out.iterdir() if p.is_dir())


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
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(int(g) for g in failed.groups()) if failed else 0),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }


def main() -> None:
    parser = events_parser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, both servers")
    parser.add_argument("--blend", help="served blend weights as JSON (RECSYS_BLEND_WEIGHTS)")
    parser.add_argument("--catalogue", action="store_true", help="also run (d), see above")
    parser.add_argument(
        "--impressions", action="store_true", help="also run (e): cached, impressions not logged"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object of medians")
    parser.add_argument(
        "--stale-seconds",
        type=float,
        default=2.0,
        help="RECSYS_STALE_SECONDS of the served app: short, so runs cross the bound",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        bundles = Path(tmp) / "bundles"
        train_bundle(args.events, args.format, bundles)
        env = {
            "RECSYS_BUNDLE_PATH": str(bundles),
            "RECSYS_EVENTS_PATH": f"{tmp}/events.jsonl",
            "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
            "RECSYS_EXPERIMENTS_PATH": str(_switch.no_experiments(Path(tmp))),
            "RECSYS_STALE_SECONDS": str(args.stale_seconds),
            **({"RECSYS_BLEND_WEIGHTS": args.blend} if args.blend else {}),
        }
        ours_port, bare_port = free_port(), free_port()
        ours = start("serving.app:create_app", ours_port, env, args.workers)
        extra = {}
        if args.catalogue:
            catalogue = {"RECSYS_CATALOGUE_PATH": str(write_catalogue(bundles, Path(tmp)))}
            extra["d"] = env | catalogue
        if args.impressions:
            extra["e"] = env | {"RECSYS_LOG_IMPRESSIONS": "false"}
        servers = {key: (free_port(), extra_env) for key, extra_env in extra.items()}
        started = [start("serving.app:create_app", p, e, args.workers) for p, e in servers.values()]
        try:
            ports = (ours_port, bare_port, {key: p for key, (p, _) in servers.items()})
            rounds, body = measure(args, bundles, Path(tmp), ports)
        finally:
            for process in [ours, *started]:
                stop(process)
    report(args, rounds, len(body))


def write_catalogue(bundles: Path, tmp: Path) -> Path:
    """A catalogue of every bundle item: 10 % out of stock, 10 % on sale until next year."""
    from datetime import UTC, datetime, timedelta

    from recsys.bundle import Bundle
    from recsys.catalogue import CatalogueItem
    from serving.catalogue import store_items

    ids = Bundle.load(next(bundles.iterdir())).data.items.ids.tolist()
    until = datetime.now(UTC) + timedelta(days=365)
    items = [
        CatalogueItem(
            item_id=str(item),
            category=f"c{n % 20}",
            price=float(n % 50),
            available=n % 10 != 3,
            available_until=until if n % 10 == 5 else None,
        )
        for n, item in enumerate(ids)
    ]
    path = tmp / "catalogue.jsonl"
    store_items(items, path, None)
    return path


def measure(
    args: argparse.Namespace, bundles: Path, tmp: Path, ports: tuple[int, int, dict[str, int]]
) -> tuple[list[dict[str, dict[str, float]]], bytes]:
    """Rounds of every run (module doc), every server up throughout."""
    from recsys.bundle import Bundle

    ours_port, bare_port, others = ports
    ids = Bundle.load(next(bundles.iterdir())).data.clients.ids[:500].tolist()
    path = f"/v1/clients/{ids[0]}/recommendations?k=10"
    url = f"http://127.0.0.1:{ours_port}{path}"
    urllib.request.urlopen(url).read()
    body = urllib.request.urlopen(url).read()  # the cached bytes
    (tmp / "body.json").write_bytes(body)
    baseline = {"BARE_BODY_FILE": str(tmp / "body.json")}
    raw_port = free_port()
    bare = start("_bare:app", bare_port, baseline, args.workers)
    raw = start("_bare:raw", raw_port, baseline, args.workers)
    rounds = []
    try:
        for number in range(args.rounds):
            script = tmp / f"uncached{number}.lua"
            script.write_text(UNCACHED % (", ".join(f'"{i}"' for i in ids), number))
            run = {
                "r": wrk(f"http://127.0.0.1:{raw_port}{path}", args.seconds, args.connections),
                "a": wrk(f"http://127.0.0.1:{bare_port}{path}", args.seconds, args.connections),
                "b": wrk(url, args.seconds, args.connections),
                "c": _uncached(args, ours_port, str(script)),
            }
            run |= _switches(args, ours_port, bundles, tmp, ids, number)
            for key, port in others.items():
                other = f"http://127.0.0.1:{port}{path}"
                urllib.request.urlopen(other).read()
                run[key] = wrk(other, args.seconds, args.connections)
            rounds.append(run)
    finally:
        stop(bare)
        stop(raw)
    return rounds, body


def _degraded(port: int) -> float:
    """The app's count of degraded answers (``/metrics``)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    found = re.search(r'recsys_miss_answers_total\{answer="degraded"\} ([\d.e+]+)', text)
    return float(found.group(1)) if found else 0.0


def _uncached(args: argparse.Namespace, port: int, script: str) -> dict[str, float]:
    """(c): wrk's figures and the share of its answers that were degraded."""
    before = _degraded(port)
    found = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections, script)
    found["degraded_share"] = (_degraded(port) - before) / max(found["requests"], 1)
    return found


def _switches(
    args: argparse.Namespace, port: int, bundles: Path, tmp: Path, ids: list[str], number: int
) -> dict[str, dict[str, float]]:
    """(s) steady, (p) through a promotion, (x) through an experiment starting."""
    many = _switch.many_script(tmp, ids)

    def load(seconds: int = args.seconds) -> dict[str, float]:
        return wrk(f"http://127.0.0.1:{port}/", seconds, args.connections, many)

    def longer() -> dict[str, float]:  # the switch, warm-up included, lands inside it
        return load(2 * args.seconds)

    _switch.prime(port, ids)
    found = {"s": load()}
    version = f"v-round{number}"
    _switch.new_version(bundles, version)
    bound = args.stale_seconds

    def promote() -> None:
        _switch.promote(port, bundles, version)

    found["p"] = _switch.switch_run(longer, args.seconds, port, ids, promote, bound)
    experiments = tmp / "experiments.json"

    def begin() -> None:
        _switch.experiment(port, experiments, f"e{number}")

    found["x"] = _switch.switch_run(longer, args.seconds, port, ids, begin, bound)
    _switch.experiment(port, experiments, None)
    return found


if __name__ == "__main__":
    main()
