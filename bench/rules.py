"""Our sparse rule miner against mlxtend's plain pipeline, on the same baskets.

    .venv/bin/python bench/rules.py            # shared data, then synth with 1M orders

mlxtend's plain pipeline: TransactionEncoder → dense DataFrame → fpgrowth →
association_rules. Each engine runs in its own process (peak RSS is its own);
mlxtend is skipped, and says so, when its dense matrix alone would pass the cap.
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

SHARED = Path(__file__).resolve().parents[2] / "shared/data/online_retail_ii_2009_2010.csv.gz"


def _baskets(events: str, fmt: str):  # type: ignore[no-untyped-def]
    from recsys.data import load_events
    from recsys.rules import build_baskets

    return build_baskets(load_events(events, fmt).events)


def ours(events: str, fmt: str, support: float, confidence: float) -> dict[str, float]:
    from recsys.rules import RulesConfig, mine_rules

    baskets = _baskets(events, fmt)
    started = time.perf_counter()
    rules = mine_rules(baskets, RulesConfig(min_support=support, min_confidence=confidence))
    return {"seconds": time.perf_counter() - started, "rules": len(rules)}


def plain(events: str, fmt: str, support: float, confidence: float) -> dict[str, float]:
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    baskets = _baskets(events, fmt)
    matrix, ids = baskets.matrix.tocsr(), baskets.items.ids
    lists = [
        ids[matrix.indices[a:b]].tolist()
        for a, b in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)
    ]
    started = time.perf_counter()
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(lists).transform(lists), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=support, use_colnames=True)
    rules = association_rules(itemsets, len(lists), metric="confidence", min_threshold=confidence)
    return {"seconds": time.perf_counter() - started, "rules": len(rules)}


def child(
    engine: str, events: str, fmt: str, support: float, confidence: float
) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", engine, events, fmt, str(support), str(confidence)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(
    name: str, events: str, fmt: str, support: float, confidence: float, cap_gb: float
) -> None:
    baskets = _baskets(events, fmt)
    dense_gb = baskets.count * len(baskets.items) / 1e9
    print(
        f"\n{name}: {baskets.count:,} baskets × {len(baskets.items):,} items, "
        f"min support {support}, min confidence {confidence}"
    )
    mine = child("ours", events, fmt, support, confidence)
    print(
        f"  ours    {mine['seconds']:8.2f} s  peak {mine['peak_mb']:7.0f} MB  "
        f"{mine['rules']:,} rules"
    )
    if dense_gb > cap_gb:
        print(f"  mlxtend not run: its dense basket × item matrix alone needs {dense_gb:.1f} GB")
        return
    base = child("plain", events, fmt, support, confidence)
    print(
        f"  mlxtend {base['seconds']:8.2f} s  peak {base['peak_mb']:7.0f} MB  "
        f"{base['rules']:,} rules"
    )
    print(
        f"  speed-up {base['seconds'] / mine['seconds']:.1f}×, "
        f"memory ratio {base['peak_mb'] / mine['peak_mb']:.1f}×"
    )


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        engine, events, fmt, support, confidence = sys.argv[2:7]
        run = ours if engine == "ours" else plain
        result = run(events, fmt, float(support), float(confidence))
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(SHARED))
    parser.add_argument("--orders", type=int, default=1_000_000, help="Synthetic orders.")
    parser.add_argument("--items", type=int, default=2_000, help="Synthetic items.")
    parser.add_argument(
        "--cap-gb", type=float, default=6.0, help="Largest dense matrix for mlxtend."
    )
    args = parser.parse_args()
    compare("Online Retail II 2009-2010", args.shared, "online-retail", 0.01, 0.3, args.cap_gb)
    from recsys.data import write_table
    from recsys.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "synth.parquet")
        config = SynthConfig(
            clients=200_000, items=args.items, events=args.orders * 5, mean_order_size=5.0
        )
        write_table(synthesize(config), path)
        compare(f"synth {args.orders:,} orders", path, "canonical", 0.002, 0.1, args.cap_gb)
        big = SynthConfig(clients=1_000_000, items=100_000, events=args.orders * 5)
        write_table(synthesize(big), path)
        compare(
            f"synth {args.orders:,} orders, 100k items", path, "canonical", 0.0005, 0.1, args.cap_gb
        )


if __name__ == "__main__":
    main()
