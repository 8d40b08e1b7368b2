"""Weekly replay of ``recsys retrain`` on the shared data: the decisions and their figures.

    .venv/bin/python bench/retrain.py                   # the last 6 weeks, week 4 damaged
    .venv/bin/python bench/retrain.py --weeks 3 --damaged 2

Version 1 is ``recsys train`` on everything before the replayed weeks, promoted. Then
for each week w: the history file holds every line before it (the online-retail
export, as the shop's system writes it) and the week's purchases arrive as the
service's event log (what ``POST /v1/events`` accepts: a client, quantity > 0); at
the end of the week ``recsys retrain`` runs, with ``--as-of`` the end of that week (the
data is from 2010: the run's own clock would find the feed stopped years ago). The
damaged week loses half its events at random and the rest are written twice (a file
imported twice): the gate must reject it. A dry run with a worse configuration shows
the paired comparison at work, and one more retrain reads the last week from a real
Redis stream (export, train, backtest, gate, promote, archive, trim): the time a
scheduler would see.

Every retrain runs as its own ``recsys`` process, so the times include start-up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared/data/online_retail_ii_2009_2010.csv.gz"
RECSYS = str(Path(sys.executable).parent / "recsys")
WORSE = ["--set", "ease.max_items=300"]  # EASE on the 300 most bought items only


def log_lines(raw: pd.DataFrame) -> list[dict[str, object]]:
    """Lines as the service logs accepted purchases: a client, quantity > 0."""
    kept = raw[(raw["Quantity"].astype(float) > 0) & (raw["Customer ID"] != "")]
    stamps = pd.to_datetime(kept["InvoiceDate"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return [
        {
            "type": "purchase",
            "client_id": c.removesuffix(".0"),
            "item_id": i,
            "order_id": o,
            "timestamp": t,
            "quantity": float(q),
            "price": float(p),
            "event_id": f"e{n}",
        }
        for n, c, i, o, t, q, p in zip(
            kept.index,
            kept["Customer ID"],
            kept["StockCode"],
            kept["Invoice"],
            stamps,
            kept["Quantity"],
            kept["Price"],
            strict=True,
        )
    ]


def damaged(lines: list[dict[str, object]], seed: int) -> list[dict[str, object]]:
    """Half the lines dropped at random; the rest twice."""
    keep = np.random.default_rng(seed).random(len(lines)) < 0.5
    half = [line for line, k in zip(lines, keep, strict=True) if k]
    return half + half


def write_log(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def recsys(args: list[str], work: Path) -> tuple[int, str, float]:
    """Run ``recsys`` in ``work``: exit code, stdout, wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([RECSYS, *args], cwd=work, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 6):
        sys.exit(f"recsys {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.returncode, done.stdout, seconds


def gate_record(work: Path, version: str) -> dict[str, str]:
    """Check name → detail, from the candidate's retrain.json."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    bundle = Path(client.get_model_version("recsys", version).tags["bundle_dir"])
    checks = json.loads((bundle / "retrain.json").read_text())["gate"]["checks"]
    return {c["name"]: f"{c['status']}: {c['detail']}" for c in checks}


def row(label: str, found: dict, checks: dict[str, str], seconds: float) -> str:
    """One line of the table."""
    cand, prod, diff = found["candidate"], found["production"] or {}, found["paired_difference"]
    ratio = re.search(r"= ([\d.]+) ×", checks.get("events per day", ""))
    new = next((v for k, v in checks.items() if k.startswith("cleaning: new")), "")
    step = re.search(r"\(largest ([\d.]+%)\)|\((\d+%); limit", new)
    ci = "–" if diff is None else f"[{diff['ci95'][0]:+.4f}, {diff['ci95'][1]:+.4f}]"
    before = "–" if prod.get("rows_kept") is None else f"{prod['rows_kept']:,}"
    share = next(g for g in step.groups() if g) if step else "–"
    return (
        f"| {label} | {found['decision']} | {cand['rows_kept']:,} | {before} "
        f"| {ratio.group(1) if ratio else '–'} | {share} "
        f"| {cand['ndcg@10']:.4f} | {prod.get('ndcg@10', float('nan')):.4f} | {ci} "
        f"| {cand['coverage@10']:.4f} | {seconds:.0f} s |"
    )


HEADER = (
    "| week | decision | rows kept | production's | events/day ratio | top cleaning step, new "
    "| NDCG@10 cand. | NDCG@10 prod. | paired 95 % CI | coverage@10 | wall |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


EMPTY = " |" + " |" * 9  # the rest of a reasons row's cells


def replay(raw: pd.DataFrame, args: argparse.Namespace, work: Path) -> list[float]:
    """Version 1, then one retrain per week; print each row; return the retrain times."""
    stamps = pd.to_datetime(raw["InvoiceDate"])
    end = _end(raw)
    edges = [end - pd.Timedelta(days=7 * k) for k in range(args.weeks, -1, -1)]
    raw[stamps < edges[0]].to_csv(work / "history.csv", index=False)
    base = ["--format", "online-retail", "--out", "bundles"]
    _, out, seconds = recsys(["train", "--events", "history.csv", *base], work)
    recsys(["promote", "1"], work)
    print(f"version 1: everything before {edges[0]:%Y-%m-%d}, trained in {seconds:.0f} s\n")
    print(HEADER)
    times = []
    for week, (low, high) in enumerate(itertools.pairwise(edges), start=1):
        raw[stamps < low].to_csv(work / "history.csv", index=False)
        lines = log_lines(raw[(stamps >= low) & (stamps < high)])
        broken = week == args.damaged
        write_log(work / "week.jsonl", damaged(lines, args.seed) if broken else lines)
        extra = ["--extra-events", "week.jsonl", "--json", "--as-of", high.isoformat()]
        _, out, seconds = recsys(["retrain", "--events", "history.csv", *base, *extra], work)
        found = json.loads(out)
        label = f"{low:%m-%d}..{high - pd.Timedelta(days=1):%m-%d}" + (" damaged" if broken else "")
        print(row(label, found, gate_record(work, found["candidate"]["version"]), seconds))
        times.append(seconds)
        if found["decision"] == "rejected":
            print(f"|  | reasons: {'; '.join(found['reasons'])}{EMPTY}")
    _, out, seconds = recsys(
        ["retrain", "--events", "history.csv", *base, *extra, "--dry-run", *WORSE], work
    )
    found = json.loads(out)
    print(
        row(
            f"dry run, {WORSE[1]}", found, gate_record(work, found["candidate"]["version"]), seconds
        )
    )
    print(f"|  | reasons: {'; '.join(found['reasons']) or 'none'}{EMPTY}")
    return times


def through_redis(raw: pd.DataFrame, work: Path, as_of: pd.Timestamp) -> float | None:
    """The last week again, read from a real Redis stream: one retrain's wall time."""
    binary = shutil.which("redis-server")
    if binary is None:
        print("\nno redis-server: the stream retrain is skipped")
        return None
    import orjson
    import redis

    from serving.stream import FIELD

    port = _free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        _until_up(client)
        with client.pipeline(transaction=False) as pipe:
            for line in [json.loads(x) for x in (work / "week.jsonl").read_text().splitlines()]:
                pipe.xadd("recsys:events", {FIELD: orjson.dumps(line)})
            pipe.execute()
        extra = ["--extra-events", f"redis://127.0.0.1:{port}/0", "--json"]
        extra += ["--as-of", as_of.isoformat()]
        args = ["retrain", "--events", "history.csv", "--format", "online-retail"]
        _, out, seconds = recsys([*args, "--out", "bundles", *extra], work)
        left = client.xlen("recsys:events")
        print(
            f"\nthrough Redis ({json.loads(out)['decision']}): {seconds:.0f} s wall, "
            f"{left} stream entries left after the trim"
        )
        return seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def _end(raw: pd.DataFrame) -> pd.Timestamp:
    """The end of the data's last day: the end of the last replayed week."""
    return pd.to_datetime(raw["InvoiceDate"]).max().normalize() + pd.Timedelta(days=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until_up(client: object) -> None:
    """Until the fresh redis-server answers (at most ~10 s)."""
    for _ in range(100):
        try:
            client.ping()  # type: ignore[attr-defined]
            return
        except Exception:  # not listening yet
            time.sleep(0.1)
    sys.exit("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", default=str(SHARED))
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--damaged", type=int, default=4, help="1-based; 0: none")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raw = pd.read_csv(args.events, dtype=str, keep_default_na=False)
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        os.environ["RECSYS_MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        os.environ["RECSYS_AUDIT_PATH"] = str(work / "audit.jsonl")
        times = replay(raw, args, work)
        print(f"\nweekly retrains: median {np.median(times):.0f} s, max {max(times):.0f} s wall")
        through_redis(raw, work, _end(raw))


if __name__ == "__main__":
    main()
