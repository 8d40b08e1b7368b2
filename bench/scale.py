"""How serving and training costs grow with the catalogue: 4k (Online Retail II),
100k and 1M items (``recsys synth``).

    .venv/bin/python bench/scale.py [--sizes 4k,100k,1m] [--work DIR] [--seconds 8]
                                    [--connections 16] [--precompute 20000]

For each catalogue: train (``recsys train --models popular,ease,als``: fit seconds
per model, wall time, peak memory), bundle size, load time, then one service
process (uvicorn, one worker) serving the blend of EASE, ALS (its faiss index from
20k items), rules, analyst rules and popularity: its RSS, uncached list p50/p99 in
process (``for_client``, one thread) and through HTTP (wrk, a fresh query string per
request so nothing is cached), ``related`` p50, and ``recsys precompute`` of the most
active clients into a fresh redis-server with 2 worker processes (clients/s, bytes
per list). Synthetic
events and bundles are kept under ``--work`` (reused when present). Needs wrk and
redis-server. Prints one table and the p50 ratios against the 4k catalogue.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from serve import SHARED, UNCACHED, free_port, start, stop, wrk

HERE = Path(__file__).resolve().parent
RECSYS = [str(Path(sys.executable).parent / "recsys")]
#: Catalogue name → how its events are made (None: the shared data set).
SIZES = {
    "4k": None,
    "100k": ["--clients", "200000", "--items", "100000", "--events", "4000000", "--seed", "1"],
    "1m": [
        *("--clients", "1000000", "--items", "1000000", "--events", "10000000"),
        *("--seed", "2", "--item-exponent", "0.8"),
    ],
}
BLEND = {"ease": 1.0, "als": 0.5, "rules": 0.1, "analyst": 1.0, "popular": 0.1}


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(command, check=True, cwd=HERE.parent, env={**os.environ, **(env or {})})


def events_for(size: str, work: Path) -> tuple[str, str]:
    """The events file and format of one catalogue (synthesised once)."""
    recipe = SIZES[size]
    if recipe is None:
        return str(SHARED), "online-retail"
    path = work / f"synth_{size}.parquet"
    if not path.exists():
        run([*RECSYS, "synth", "--out", str(path), *recipe])
    return str(path), "canonical"


def train(size: str, work: Path) -> tuple[Path, dict[str, float]]:
    """Train (once) and return the bundle with wall time and peak memory of the job."""
    out = work / f"bundles_{size}"
    found = sorted(p for p in out.glob("2*") if p.is_dir()) if out.exists() else []
    if found:
        return found[-1], json.loads((work / f"train_{size}.json").read_text())
    events, fmt = events_for(size, work)
    started = time.perf_counter()
    command = [*RECSYS, "train", "--events", events, "--format", fmt, "--out", str(out)]
    run([*command, "--models", "popular,ease,als"], {"RECSYS_MLFLOW_TRACKING_URI": _mlflow(work)})
    figures = {
        "train_s": time.perf_counter() - started,
        "train_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
    }
    (work / f"train_{size}.json").write_text(json.dumps(figures))
    return sorted(p for p in out.glob("2*") if p.is_dir())[-1], figures


def _mlflow(work: Path) -> str:
    return f"sqlite:///{work / 'mlflow.db'}"


def in_process(bundle: Path, requests: int = 1000) -> dict[str, float]:
    """Load time, then single-thread latency of uncached lists and related items."""
    from recsys.bundle import Bundle
    from recsys.ranking import BlendConfig, HybridRecommender

    started = time.perf_counter()
    loaded = Bundle.load(bundle)
    recommender = HybridRecommender(loaded, loaded.rules, None, BlendConfig(weights=BLEND))
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    clients = rng.choice(loaded.data.clients.ids, requests).tolist()
    items = rng.choice(loaded.data.items.ids, requests // 4).tolist()
    lists = _timed(lambda c: recommender.for_client(c, 10), clients)
    related = _timed(lambda i: recommender.for_item(i, 10), items)
    return {
        "load_s": load_s,
        "list_p50": statistics.median(lists),
        "list_p99": float(np.percentile(lists, 99)),
        "related_p50": statistics.median(related),
        "items": len(loaded.data.items),
        "clients": len(loaded.data.clients),
        **{k.replace("fit_seconds.", "fit_"): v for k, v in loaded.metrics.items()},
    }


def _timed(call: object, arguments: list[str]) -> list[float]:
    for argument in arguments[:20]:  # warm-up: lazily built caches
        call(argument)  # type: ignore[operator]
    times = []
    for argument in arguments:
        started = time.perf_counter()
        call(argument)  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return times


def ann_recall(bundle: Path, clients: int = 300) -> dict[str, float]:
    """Recall@100 of ALS's index against a brute-force scan, for a client's candidates
    and for related items (below ``ann_min_items`` an index is built here to measure)."""
    from recsys.bundle import Bundle
    from recsys.models._ann import ItemIndex

    loaded = Bundle.load(bundle)
    als = loaded.models["als"]
    factors = np.asarray(als.model.item_factors, dtype=np.float64)  # type: ignore[attr-defined]
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    if als.ann is None:  # type: ignore[attr-defined]
        probe, seed = als.config.ann_probe, als.config.seed  # type: ignore[attr-defined]
        als.ann = {  # type: ignore[attr-defined]
            "inner": ItemIndex.build(factors, probe, seed),
            "cosine": ItemIndex.build(unit, probe, seed),
        }
    matrix = loaded.data.matrix
    rng = np.random.default_rng(0)
    found, related = [], []
    for row in rng.choice(matrix.shape[0], clients, replace=False):
        bought = np.unique(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]])
        exact = factors @ als.fold_in(bought)  # type: ignore[attr-defined]
        exact[bought] = -np.inf
        found.append(_recall(als.basket_candidates(bought, 100, bought)[0], exact))
        item = int(rng.integers(matrix.shape[1]))
        cosine = unit @ unit[item]
        cosine[item] = -np.inf
        related.append(_recall(als.similar_candidates(item, 100)[0], cosine))
    return {"recall": float(np.mean(found)), "related_recall": float(np.mean(related))}


def _recall(got: np.ndarray, exact: np.ndarray, k: int = 100) -> float:
    """Share of the exact top k reached (ties at the cut count either way)."""
    kth = np.sort(exact[np.isfinite(exact)])[::-1][k - 1]
    return float(np.sum(exact[got] >= kth - 1e-6 * abs(kth))) / k


def served(bundle: Path, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """One service process on the bundle: RSS after warm-up, uncached lists by wrk."""
    from recsys.bundle import Bundle

    env = {
        "RECSYS_BUNDLE_PATH": str(bundle.parent),
        "RECSYS_EVENTS_PATH": str(tmp / "events.jsonl"),
        "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        "RECSYS_BLEND_WEIGHTS": json.dumps(BLEND),
    }
    port = free_port()
    process = start("serving.app:create_app", port, env, 1)
    try:
        ids = Bundle.load(bundle).data.clients.ids[:500].tolist()
        for client in ids[:50]:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/clients/{client}/recommendations")
        script = tmp / "uncached.lua"
        script.write_text(UNCACHED % (", ".join(f'"{i}"' for i in ids), 0))
        http = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections, str(script))
        rss = _rss_gb(process.pid)
    finally:
        stop(process)
    figures = {"http_p50": http["p50"], "http_p99": http["p99"], "http_rps": http["rps"]}
    return {**figures, "rss_gb": rss}


def _rss_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def precomputed(bundle: Path, limit: int, tmp: Path) -> dict[str, float]:
    """``recsys precompute --limit`` into a fresh redis-server: clients/s, bytes per list."""
    from serving.precompute import precompute
    from serving.settings import ServingSettings

    port = free_port()
    command = ["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp)]
    redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        settings = ServingSettings(
            bundle_path=bundle.parent,
            redis_url=f"redis://127.0.0.1:{port}/0",
            blend_weights=BLEND,
            reload_interval_seconds=0,
        )
        got = precompute(settings, 10, limit=limit, workers=2)
    finally:
        redis.kill()
    return {"precompute_cps": got.clients_per_second, "redis_bytes": got.bytes_per_list}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="4k,100k,1m")
    parser.add_argument("--work", default=str(HERE / ".scale"))
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--precompute", type=int, default=100_000, help="clients to precompute")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = {}
    for size in args.sizes.split(","):
        bundle, figures = train(size, work)
        with tempfile.TemporaryDirectory() as tmp:
            figures |= in_process(bundle)
            figures |= ann_recall(bundle)
            figures |= served(bundle, args, Path(tmp))
            figures |= precomputed(bundle, args.precompute, Path(tmp))
        figures["bundle_gb"] = sum(f.stat().st_size for f in bundle.rglob("*")) / 2**30
        rows[size] = figures
        print(size, json.dumps(figures), flush=True)
    report(rows)


COLUMNS = [
    ("items", "items", "{:,.0f}"),
    ("clients", "clients", "{:,.0f}"),
    ("train_s", "train s", "{:.0f}"),
    ("train_gb", "train GB", "{:.1f}"),
    ("fit_ease", "fit EASE s", "{:.1f}"),
    ("fit_als", "fit ALS s", "{:.1f}"),
    ("fit_rules", "rules s", "{:.1f}"),
    ("bundle_gb", "bundle GB", "{:.2f}"),
    ("load_s", "load s", "{:.2f}"),
    ("rss_gb", "serving RSS GB", "{:.2f}"),
    ("list_p50", "list p50 ms", "{:.2f}"),
    ("list_p99", "list p99 ms", "{:.2f}"),
    ("http_p50", "HTTP p50 ms", "{:.2f}"),
    ("http_p99", "HTTP p99 ms", "{:.2f}"),
    ("http_rps", "HTTP rps", "{:.0f}"),
    ("related_p50", "related p50 ms", "{:.2f}"),
    ("recall", "ALS index recall@100", "{:.3f}"),
    ("related_recall", "related recall@100", "{:.3f}"),
    ("precompute_cps", "precompute clients/s", "{:,.0f}"),
    ("redis_bytes", "Redis B/list", "{:,.0f}"),
]


def report(rows: dict[str, dict[str, float]]) -> None:
    """A markdown table (sizes as columns) and the p50 ratios against the smallest."""
    sizes = list(rows)
    print("\n| | " + " | ".join(sizes) + " |\n|---|" + "---:|" * len(sizes))
    for key, label, fmt in COLUMNS:
        cells = [fmt.format(rows[s][key]) if key in rows[s] else "–" for s in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")
    base = sizes[0]
    for size in sizes[1:]:
        http = rows[size]["http_p50"] / rows[base]["http_p50"]
        ranking = rows[size]["list_p50"] / rows[base]["list_p50"]
        print(
            f"{size} vs {base}: uncached list p50 through HTTP {http:.2f}× "
            f"(target ≤ 1.2× at 100k, ≤ 1.5× at 1M); in process {ranking:.2f}×"
        )


if __name__ == "__main__":
    main()
