"""bench/serve.py's report: each round, the medians, and the targets as ratios of
medians of the same run (or one JSON object of the medians, ``--json``)."""

from __future__ import annotations

import argparse
import json
import statistics

NAMES = {
    "r": ("raw", "(r) raw ASGI"),
    "a": ("bare", "(a) bare FastAPI"),
    "b": ("cached", "(b) ours, cached"),
    "c": ("uncached", "(c) ours, all misses"),
    "s": ("steady", "(s) cached, 500 clients"),
    "p": ("promote", "(p) (s) + a promotion"),
    "x": ("experiment", "(x) (s) + an experiment"),
    "d": ("catalogue", "(d) cached, catalogue"),
    "e": ("no_impressions", "(e) cached, no impressions"),
}
#: Extra figures a run may carry, as medians too.
EXTRA = ("degraded_share", "stale_seen", "degraded_seen", "stale_after_bound", "switch_s")


def medians(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each run's medians over the rounds, named as ``--json`` prints them."""
    out = {}
    for key in rounds[0]:
        runs = [run[key] for run in rounds]
        found = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50"] for r in runs),
            "p99_ms": statistics.median(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
        found |= {x: statistics.median(r[x] for r in runs) for x in EXTRA if x in runs[0]}
        out[NAMES[key][0]] = found
    return out


def report(args: argparse.Namespace, rounds: list[dict[str, dict[str, float]]], size: int) -> None:
    """Each round, then the medians and the target ratios (or one JSON object)."""
    median = medians(rounds)
    if args.json:
        print(json.dumps(median))
        return
    print(
        f"\nresponse body: {size:,} bytes; {args.connections} connections, {args.seconds}s per "
        f"run, {args.rounds} rounds, {args.workers} worker(s) per server"
    )
    print(f"{'':<32}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for number, run in enumerate(rounds, 1):
        for key, r in run.items():
            label = f"{NAMES[key][1]} #{number}"
            print(f"{label:<32}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>8}")
    for name, r in median.items():
        extra = " ".join(f"{x}={r[x]:.3g}" for x in EXTRA if x in r)
        print(
            f"{name + ' median':<32}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{r['errors']:>8}  {extra}"
        )
    ratios(median)


def ratios(m: dict[str, dict[str, float]]) -> None:
    """The targets of the serving issues, as ratios of medians of this run."""
    raw, bare, cached, uncached = m["raw"], m["bare"], m["cached"], m["uncached"]
    print(f"cached / raw rps {cached['rps'] / raw['rps']:.2f} (target >= 0.6)")
    print(f"cached / bare FastAPI rps {cached['rps'] / bare['rps']:.2f}")
    print(
        f"all misses: p99 {uncached['p99_ms']:.0f} ms (target <= 100), rps / bare "
        f"{uncached['rps'] / bare['rps']:.2f} (target >= 0.2), degraded share "
        f"{uncached['degraded_share']:.2f}"
    )
    steady = m["steady"]["p99_ms"]
    for name in ("promote", "experiment"):
        r = m[name]
        print(
            f"{name}: p99 / steady p99 {r['p99_ms'] / steady:.2f} (target <= 3), errors "
            f"{r['errors']}, stale after the bound {r['stale_after_bound']:.0f}"
        )
    if "catalogue" in m:
        print(f"catalogue check on cached reads: rps {m['catalogue']['rps'] / cached['rps']:.2f}")
    if "no_impressions" in m:
        print(f"impression logging: rps {cached['rps'] / m['no_impressions']['rps']:.2f}")
