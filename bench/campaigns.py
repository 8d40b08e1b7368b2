"""Campaign reports and builds, measured (issue 25's targets).

    .venv/bin/python bench/campaigns.py [--seeds 40] [--uplift 0.10] [--days 28]
                                        [--bundle-100k DIR] [--work DIR]

1. **Simulations on the shared data** (cut-off 2010-09-09): for each seed, a campaign
   built on the events before the cut-off and read over ``--days`` after it
   (:func:`recsys.campaigns.simulate.simulate`), once as it is (A/A) and once with
   ``--uplift`` injected into the treatment's purchases. Printed: how often the
   revenue-per-client interval covers 0 in A/A, how often the relative interval covers
   the injected uplift, how often the CUPED interval covers the injected difference
   (``uplift`` × the members' mean revenue), and the median ratio of the CUPED
   interval's width to the plain one's.
2. **A 100,000-client build on the 100k-item synthetic bundle** (``recsys synth``
   then ``recsys train``, kept under ``--work``; or ``--bundle-100k``): ``recsys
   campaign build`` end to end (an uploaded list of 100,000 clients, three next-best
   offers each), against the baseline of one request per client (``for_client`` on
   1,000 of them, times 100) in this script.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared/data/online_retail_ii_2009_2010.csv.gz"
RECSYS = str(Path(sys.executable).parent / "recsys")
SYNTH = ["--clients", "200000", "--items", "100000", "--events", "4000000", "--seed", "1"]


def covers(interval: list[float] | None, value: float) -> bool:
    return interval is not None and interval[0] <= value <= interval[1]


def width(interval: list[float]) -> float:
    return interval[1] - interval[0]


def simulations(seeds: int, uplift: float, days: int) -> None:
    from recsys.campaigns import client_metrics
    from recsys.campaigns.simulate import simulate, simulated_members
    from recsys.data import load_events
    from recsys.stats import mean_difference

    events = load_events(SHARED, "online-retail").events
    events = events.assign(timestamp=events["timestamp"].dt.tz_localize("UTC"))
    cutoff = pd.Timestamp("2010-09-09", tz="UTC")
    end = cutoff + pd.Timedelta(days=days)
    hits = dict.fromkeys(("pooled", "welch", "cuped", "relative", "cuped_uplift"), 0)
    ratios, halves, deviations = [], [], []
    for seed in range(seeds):
        same = simulate(events, cutoff, days, seed=seed)["metrics"]["revenue_per_client"]
        raised = simulate(events, cutoff, days, uplift=uplift, seed=seed)
        found, clients = raised["metrics"]["revenue_per_client"], raised["clients"]
        table = client_metrics(simulated_members(events, cutoff, seed, 10.0), events, cutoff, end)
        revenue, treated = table["revenue"].to_numpy(), (table["group"] == "treatment").to_numpy()
        welch = mean_difference(revenue[treated], revenue[~treated])["ci95"]
        hits["pooled"] += covers(same["ci95"], 0.0)
        hits["welch"] += covers(welch, 0.0)
        hits["cuped"] += covers(same["cuped_ci95"], 0.0)
        hits["relative"] += covers(found["relative_ci95"], uplift)
        hits["cuped_uplift"] += covers(found["cuped_ci95"], uplift * float(revenue.mean()))
        ratios.append(width(same["cuped_ci95"]) / width(same["ci95"]))
        halves.append(width(same["ci95"]) / 2)
        deviations.append(float(revenue.std(ddof=1)))
    print(f"shared data, cut-off 2010-09-09, {days} days, {seeds} seeds: "
          f"{clients['treatment'] + clients['holdout']} members, holdout "
          f"{clients['holdout']} (last seed); revenue per client: mean {revenue.mean():.0f}, "
          f"sd {median(deviations):.0f}, interval ± {median(halves):.0f} (medians)")  # fmt: skip
    h = {key: f"{value}/{seeds}" for key, value in hits.items()}
    print(f"  A/A: revenue/client interval covers 0 in {h['pooled']} (pooled, reported), "
          f"{h['welch']} (Welch), {h['cuped']} (CUPED)")  # fmt: skip
    print(f"  +{uplift:.0%}: relative interval covers +{uplift:.0%} in {h['relative']}; "
          f"CUPED interval covers the injected difference in {h['cuped_uplift']}")  # fmt: skip
    print(f"  CUPED / plain interval width (revenue per client): median {median(ratios):.3f}")


def bundle_100k(work: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    out, events = work / "bundles_100k", work / "synth_100k.parquet"
    if not out.exists():
        if not events.exists():
            subprocess.run([RECSYS, "synth", "--out", str(events), *SYNTH], check=True)
        env = {**os.environ, "RECSYS_MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
        train = [RECSYS, "train", "--events", str(events), "--format", "canonical"]
        subprocess.run([*train, "--out", str(out)], check=True, env=env)
    return out


def build_100k(bundles: Path) -> None:
    from recsys.bundle import Bundle
    from recsys.ranking import HybridRecommender, RequestOptions

    path = sorted(p for p in bundles.glob("2*") if p.is_dir())[-1]
    bundle = Bundle.load(path)
    ids = bundle.data.clients.ids[:100_000].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "campaigns"
        folder.mkdir()
        campaign = {"name": "big", "audience": {"kind": "clients", "clients": ids, "size": 100_000},
                    "offer": {"next_best": 3}, "channel": "email",
                    "start": "2026-01-05", "end": "2026-02-05"}  # fmt: skip
        (folder / "big.yaml").write_text(yaml.safe_dump(campaign), encoding="utf-8")
        started = time.perf_counter()
        command = [RECSYS, "campaign", "build", "big", "--bundle", str(bundles)]
        command += ["--campaigns", str(folder), "--out", str(Path(tmp) / "contacts.csv")]
        command += ["--tombstones", str(Path(tmp) / "none.txt")]
        env = {**os.environ, "RECSYS_OUTCOMES_PATH": str(Path(tmp) / "outcomes.jsonl")}
        env["RECSYS_CATALOGUE_PATH"] = str(Path(tmp) / "catalogue.jsonl")
        subprocess.run(command, check=True, env=env, cwd=tmp)
        built = time.perf_counter() - started
    recommender = HybridRecommender(bundle, bundle.rules, None)
    chosen = np.random.default_rng(0).choice(ids, 1000, replace=False).tolist()
    options = RequestOptions(exclude_purchased=False)
    started = time.perf_counter()
    for client in chosen:
        recommender.for_client(client, 3, options=options)
    one_by_one = (time.perf_counter() - started) * 100
    print(f"100k-item synthetic bundle ({len(bundle.data.items):,} items): 100,000-client build "
          f"{built:.1f} s end to end (target < 60 s); one request per client ~{one_by_one:.0f} s "
          f"(1,000 timed × 100); ratio {built / one_by_one:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--uplift", type=float, default=0.10)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--bundle-100k", type=Path)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "recsys-bench")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    simulations(args.seeds, args.uplift, args.days)
    if not args.skip_build:
        args.work.mkdir(parents=True, exist_ok=True)
        build_100k(bundle_100k(args.work, args.bundle_100k))


if __name__ == "__main__":
    main()
