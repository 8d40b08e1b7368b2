"""Fit time and peak memory of each model, as figures and as ratios to the time
of building the matrix itself, on the shared data and on synthetic data.

    .venv/bin/python bench/train.py                       # shared data + 1M×100k×20M synth
    .venv/bin/python bench/train.py --no-synth        # shared data only

Each (data set, model) runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["popular", "als", "bpr", "itemknn"]
SHARED = Path(__file__).resolve().parents[2] / "shared/data/online_retail_ii_2009_2010.csv.gz"


def one(events: str, fmt: str, model: str) -> dict[str, float]:
    """Load, build the matrix, fit one model; report seconds and peak RSS."""
    from recsys.data import load_events
    from recsys.matrix import build_matrix
    from recsys.models import default_models

    loaded = load_events(events, fmt)
    started = time.perf_counter()
    data = build_matrix(loaded.events)
    built = time.perf_counter()
    default_models()[model].fit(data.matrix)
    fitted = time.perf_counter()
    return {
        "matrix_seconds": built - started,
        "fit_seconds": fitted - built,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "clients": data.shape[0],
        "items": data.shape[1],
        "nnz": int(data.matrix.nnz),
    }


def run_child(events: str, fmt: str, model: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", events, fmt, model],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(name: str, events: str, fmt: str) -> None:
    print(f"\n{name}")
    print(f"{'model':<10}{'fit s':>10}{'matrix s':>10}{'fit/matrix':>12}{'peak MB':>10}")
    for model in MODELS:
        r = run_child(events, fmt, model)
        ratio = r["fit_seconds"] / max(r["matrix_seconds"], 1e-9)
        print(
            f"{model:<10}{r['fit_seconds']:>10.2f}{r['matrix_seconds']:>10.2f}"
            f"{ratio:>12.1f}{r['peak_rss_mb']:>10.0f}",
            flush=True,
        )
    print(f"matrix: {r['clients']:,} clients × {r['items']:,} items, {r['nnz']:,} non-zeros")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(*sys.argv[2:5])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(SHARED))
    parser.add_argument("--synth-clients", type=int, default=1_000_000)
    parser.add_argument("--synth-items", type=int, default=100_000)
    parser.add_argument("--synth-events", type=int, default=20_000_000)
    parser.add_argument("--no-synth", action="store_true", help="Only the shared data.")
    args = parser.parse_args()
    report("Online Retail II 2009-2010", args.shared, "online-retail")
    if args.no_synth:
        return
    from recsys.data import write_table
    from recsys.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "synth.parquet")
        config = SynthConfig(
            clients=args.synth_clients, items=args.synth_items, events=args.synth_events
        )
        write_table(synthesize(config), path)
        report(
            f"synth {config.clients:,} × {config.items:,} × {config.events:,}", path, "canonical"
        )


if __name__ == "__main__":
    main()
