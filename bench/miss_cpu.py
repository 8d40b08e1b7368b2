"""Per-list CPU of an uncached list (a cache miss), this tree against a baseline tree.

    .venv/bin/python bench/miss_cpu.py [--events PATH] [--bundle DIR] [--base DIR]
                                       [--clients 2000] [--unknown 100] [--rounds 2]
                                       [--passes 3] [--candidate-cache 0]

The recommender is the one the service serves (:func:`serving.state.load` with the
settings' defaults, the example analyst rules ``examples/cross_sell.yaml`` and the
default blend) over the serving line-up of ``bench/serve.py`` trained once on the
shared data (into ``--bundle``, default ``/tmp/miss-cpu/bundles``; reused when there).
Two lists per client: the client's list (``k=10``, bought items excluded) and the
next-best offers' ``exclude_purchased=false`` list. Each is timed twice per client:
``for_client`` alone, and the serving miss without I/O (``client_options``,
``serving.ranked.rank_list``, ``serving.lists.list_body``), in CPU time
(``time.process_time``), one thread (threadpoolctl), after one warm-up pass; each
list's time is its least over ``--passes`` passes over all the clients (the machine
is shared: other jobs only ever add to a time, and a pass leaves no client's rows in
the caches for its next pass).

``--candidate-cache N``: the ranking core keeps N requests' candidates
(``RECSYS_CANDIDATE_CACHE_SIZE``, :mod:`recsys.ranking._memo`). The default, 0, times
every list from scratch; with N ≥ the lists asked, every pass after the warm-up finds its
client's candidates kept (a later list of a client whose sources see the same request),
and the ``serving`` time follows a ``for_client`` of the same request. A tree without the
memo ignores it.

The baseline is the code of a git commit (``--commit``, default ``HEAD``) checked out
as a worktree at ``--base`` (default ``/tmp/miss-base``; made with ``git worktree add
--detach`` when missing, and left there: remove it with ``git worktree remove``). Each
tree is measured in a subprocess (``PYTHONPATH`` = the tree), alternately, ``--rounds``
times each, because the machine is shared; the report gives each tree's medians over
rounds and the ratios new/old. The lists of the two trees are compared (item ids,
scores to 1e-9, reasons' sources, texts and evidence): the count of differing lists
must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from serve import bundle_parser, reused_bundles

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The two lists a miss computes: the client's list and the next-best offers'.
LISTS = {"list": True, "offers": False}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        return child(args)
    reused_bundles(args)  # the serving line-up, as bench/serve.py trains it
    base = worktree(Path(args.base), args.commit)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name, tree in (("old", base), ("new", ROOT)):
            runs[name].append(measure(tree, args))
    report(runs)


def parser() -> argparse.ArgumentParser:
    p = bundle_parser(__doc__.split("\n")[0])
    p.add_argument("--base", default="/tmp/miss-base")
    p.add_argument("--commit", default="HEAD")
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--unknown", type=int, default=100)
    p.add_argument("--seed", type=int, default=29)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--passes", type=int, default=3, help="passes over the clients per run")
    p.add_argument("--today", default="2010-12-10", help="the service's pinned day")
    p.add_argument("--candidate-cache", type=int, default=0, help="requests' candidates kept")
    p.add_argument("--child", help=argparse.SUPPRESS)  # measure this tree into a file
    return p


def worktree(path: Path, commit: str) -> Path:
    """The baseline checkout at ``path`` (made from ``commit`` when missing)."""
    if not (path / "recsys").is_dir():
        command = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit]
        subprocess.run(command, check=True)
    return path


def measure(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One child run of this script with ``tree``'s code first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    env["PYTHONPATH"] = str(tree)
    env["RECSYS_CANDIDATE_CACHE_SIZE"] = str(args.candidate_cache)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        script = str(Path(__file__).resolve())
        command = [sys.executable, script, *sys.argv[1:], "--child", out.name]
        subprocess.run(command, check=True, env=env, cwd=tree)
        return dict(json.loads(Path(out.name).read_text()))


def child(args: argparse.Namespace) -> None:
    """Measure the tree on ``sys.path`` (a subprocess of :func:`main`)."""
    from threadpoolctl import threadpool_limits

    loaded, clients = served(args)
    with threadpool_limits(1):
        timed(loaded, clients, args)  # warm-up: first touches of every page and cache
        passes = [timed(loaded, clients, args) for _ in range(args.passes)]
    found = passes[0]
    for kind in LISTS:  # per list, its least CPU over the passes: other jobs only add
        for stage in ("for_client", "serving"):
            found[kind][stage] = [
                min(t) for t in zip(*(p[kind][stage] for p in passes), strict=True)
            ]
    found["tree"] = str(Path(sys.modules["recsys"].__file__ or "").parents[1])
    Path(args.child).write_text(json.dumps(found))


def served(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """The served recommender (as the service loads it) and the clients to ask for."""
    import numpy as np

    from serving.settings import ServingSettings
    from serving.state import load

    settings = ServingSettings(
        bundle_path=Path(args.bundle),
        cross_sell_path=ROOT / "examples/cross_sell.yaml",
        today=date.fromisoformat(args.today),
    )
    loaded = load(settings)
    ids = np.asarray(loaded.bundle.data.clients.ids)
    rng = np.random.default_rng(args.seed)
    known = rng.choice(ids, size=min(args.clients, len(ids)), replace=False).tolist()
    return loaded, [str(c) for c in known] + [f"unknown-{i}" for i in range(args.unknown)]


def timed(loaded: Any, clients: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Per list kind: CPU seconds of each ``for_client`` and serving miss, and the lists."""
    from recsys.catalogue import Catalogue
    from recsys.ranking import RequestOptions
    from serving.lists import list_body
    from serving.ranked import Arrivals, ClientNow, client_options, rank_list

    recommender, clock = loaded.recommender, time.process_time
    arrivals = Arrivals(1, Catalogue(), {}, __import__("datetime").datetime(2010, 12, 10))
    out: dict[str, Any] = {}
    for kind, exclude in LISTS.items():
        options = RequestOptions(exclude_purchased=exclude)
        ranking, serving, lists = [], [], []
        for client in clients:
            start = clock()
            items = recommender.for_client(client, 10, (), options)
            middle = clock()
            who = ClientNow(client)
            ranked = rank_list(recommender, who, 10, client_options(options, who, {}), arrivals)
            list_body(client, loaded.version, ranked)
            ranking.append(middle - start)
            serving.append(clock() - middle)
            lists.append([_plain(i) for i in items])
        out[kind] = {"for_client": ranking, "serving": serving, "lists": lists}
    return out


def _plain(item: Any) -> list[Any]:
    reasons = [[r.source, r.text, json.dumps(r.evidence, sort_keys=True)] for r in item.reasons]
    return [item.item_id, float(item.score), reasons]


def report(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Medians over rounds of each tree's p50 and mean, the ratios, and the diff count."""
    print(f"old: {runs['old'][0]['tree']}  new: {runs['new'][0]['tree']}")
    for kind in LISTS:
        for stage in ("for_client", "serving"):
            got = {name: _summary([r[kind][stage] for r in found]) for name, found in runs.items()}
            old, new = got["old"], got["new"]
            print(
                f"{kind:7} {stage:10} p50 {old[0]:.3f} → {new[0]:.3f} ms "
                f"({new[0] / old[0]:.2f}×)  mean {old[1]:.3f} → {new[1]:.3f} ms "
                f"({new[1] / old[1]:.2f}×)"
            )
        differ = _differences(runs["old"][0][kind]["lists"], runs["new"][0][kind]["lists"])
        print(f"{kind:7} lists that differ: {differ} of {len(runs['old'][0][kind]['lists'])}")


def _summary(rounds: list[list[float]]) -> tuple[float, float]:
    """Median over rounds of the p50 and of the mean, in ms."""
    p50 = statistics.median(statistics.median(r) for r in rounds)
    mean = statistics.median(statistics.fmean(r) for r in rounds)
    return p50 * 1e3, mean * 1e3


def _differences(old: list[list[Any]], new: list[list[Any]]) -> int:
    """Lists whose ids, reasons or scores (to 1e-9) differ."""
    return sum(not _same(a, b) for a, b in zip(old, new, strict=True))


def _same(old: list[Any], new: list[Any]) -> bool:
    if len(old) != len(new):
        return False
    return all(
        a[0] == b[0] and abs(a[1] - b[1]) <= 1e-9 and a[2] == b[2]
        for a, b in zip(old, new, strict=True)
    )


if __name__ == "__main__":
    main()
