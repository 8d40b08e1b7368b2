"""The same offline jobs on the local engine and on Spark ``local[2]``: wall time and
peak memory of import (read + clean), rule mining and ALS, on synthetic events of
growing size.

    .venv/bin/python bench/spark.py                   # 5M, 10M, 20M events
    .venv/bin/python bench/spark.py --sizes 1,2       # a quick run

Each (size, engine, job) runs in its own process; its peak memory is that of the whole
process tree (Python and, for Spark, the JVM), sampled every 0.1 s. Job seconds exclude
the import they start from (timed on its own row). On a 2-core machine Spark is not
expected to win: the point is that it runs the same job, and how its cost grows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("import", "rules", "als")
RULES = {"min_support": 0.002, "min_confidence": 0.1, "max_len": 3}


def _local(path: str, job: str) -> dict[str, Any]:
    from recsys.data import load_events
    from recsys.matrix import build_matrix
    from recsys.models import ALSScorer
    from recsys.rules import RulesConfig, build_baskets, mine_rules

    started = time.perf_counter()
    loaded = load_events(path)
    out: dict[str, Any] = {"import_seconds": time.perf_counter() - started}
    started = time.perf_counter()
    if job == "rules":
        out["rules"] = len(mine_rules(build_baskets(loaded.events), RulesConfig(**RULES)))
    elif job == "als":
        matrix = build_matrix(loaded.events).matrix
        ALSScorer().fit(matrix)
        out["nnz"] = int(matrix.nnz)
    out["job_seconds"] = time.perf_counter() - started
    return out


def _spark(path: str, job: str) -> dict[str, Any]:
    from recsys.matrix import MatrixConfig, weigh
    from recsys.rules import RulesConfig
    from training.spark import load_events, spark_session
    from training.spark.als import SparkALSScorer
    from training.spark.jobs import index_lines, line_counts
    from training.spark.rules import mine_rules

    spark = spark_session("local[2]")
    started = time.perf_counter()
    loaded = load_events(spark, path)
    out: dict[str, Any] = {"import_seconds": time.perf_counter() - started}
    started = time.perf_counter()
    if job == "rules":
        out["rules"] = len(mine_rules(loaded.frame, RulesConfig(**RULES))[0])
    elif job == "als":
        counts = line_counts(index_lines(loaded.frame), MatrixConfig())
        matrix = weigh(counts, MatrixConfig())
        SparkALSScorer(spark=spark).fit(matrix)
        out["nnz"] = int(matrix.nnz)
    out["job_seconds"] = time.perf_counter() - started
    spark.stop()
    return out


def _peak_of(process: subprocess.Popen[str]) -> list[float]:
    """Sample the RSS of ``process`` and its descendants until it ends (MB, a list
    holding the running maximum)."""
    import psutil

    peak = [0.0]

    def sample() -> None:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
                peak[0] = max(peak[0], rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    return peak


def run_child(path: str, engine: str, job: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", path, engine, job]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    peak = _peak_of(child)
    stdout, _ = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{engine} {job} failed ({child.returncode})")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_mb": peak[0]}


def synthesize(events: int, clients: int, items: int, directory: Path) -> str:
    from recsys.data import write_table
    from recsys.synth import SynthConfig, synthesize

    path = directory / f"synth-{events}.parquet"
    write_table(synthesize(SynthConfig(clients=clients, items=items, events=events)), path)
    return str(path)


def report(millions: float, path: str) -> None:
    print(f"\n{millions:g}M events")
    header = ("job", "local s", "spark s", "spark/local", "local MB", "spark MB")
    print(f"{header[0]:<8}" + "".join(f"{h:>13}" for h in header[1:]))
    for job in JOBS:
        local, spark = run_child(path, "local", job), run_child(path, "spark", job)
        key = "import_seconds" if job == "import" else "job_seconds"
        ratio = spark[key] / max(local[key], 1e-9)
        print(
            f"{job:<8}{local[key]:>13.1f}{spark[key]:>13.1f}{ratio:>12.1f}×"
            f"{local['peak_mb']:>13.0f}{spark['peak_mb']:>13.0f}",
            flush=True,
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        path, engine, job = sys.argv[2:5]
        result = (_spark if engine == "spark" else _local)(path, job)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,10,20", help="Millions of events, comma-separated.")
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for millions in (float(s) for s in args.sizes.split(",")):
            events = int(millions * 1_000_000)
            report(millions, synthesize(events, args.clients, args.items, Path(tmp)))


if __name__ == "__main__":
    main()
