"""Memory and garbage-collector cost of the candidate memo (``recsys.ranking._memo``).

    .venv/bin/python bench/memo_memory.py [--bundle DIR] [--entries 1024]

The served recommender (as ``bench/miss_cpu.py`` loads it, ``bench/serve.py``'s line-up
trained on the shared data) with a memo of ``--entries`` requests: the objects loaded
are frozen out of the collector (as the service does after a load), then the memo is
filled with the next-best-offers list (``exclude_purchased=false``, the most reasons)
of as many clients. Prints the memory allocated meanwhile (tracemalloc), the objects
the collector tracks that were added, and one full collection's time; with
``--entries 0`` the same lists with nothing kept.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

from miss_cpu import parser, served

from recsys.ranking import RequestOptions


def main() -> None:
    p = parser()
    p.add_argument("--entries", type=int, default=1024)
    args = p.parse_args()
    os.environ["RECSYS_CANDIDATE_CACHE_SIZE"] = str(args.entries)
    args.clients, args.unknown = max(args.entries, 1024), 0
    loaded, clients = served(args)
    recommender = loaded.recommender
    gc.collect()
    gc.freeze()
    before = len(gc.get_objects())
    tracemalloc.start()
    for client in clients[: max(args.entries, 1024)]:
        recommender.for_client(client, 10, (), RequestOptions(exclude_purchased=False))
    allocated = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    added = len(gc.get_objects()) - before
    started = time.perf_counter()
    gc.collect()
    took = time.perf_counter() - started
    print(
        f"entries {len(recommender.memo)}: {allocated / 1e6:.1f} MB allocated, "
        f"{added:,} objects tracked added, a full collection {took * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
