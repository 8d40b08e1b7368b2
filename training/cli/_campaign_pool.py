"""Next-best offers of a big campaign spread over worker processes.

Ranking and explaining is CPU-bound Python and numpy (~0.7 ms per client on the 100k-item
synthetic bundle), so a 100,000-client campaign ranks its clients in chunks on every
core. Workers are spawned, not forked (no copied BLAS threads), and each loads the bundle
as the service serves it (a memory-mapped bundle loads in a fraction of a second).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recsys.audience.profiles import Profile
    from recsys.campaigns.offers import Lists, Ranker
    from recsys.ranking import HybridRecommender
    from serving.settings import ServingSettings

__all__ = ["WORKERS", "pool_ranker"]

#: Worker processes at most (one per core up to this).
WORKERS = 4
#: Fewer rows than this are ranked in process (starting workers costs seconds).
SMALL = 20_000
#: Rows per task.
CHUNK = 4096

_recommender: HybridRecommender | None = None


def _start(settings: ServingSettings, bundle: Path) -> None:
    from training.cli import _served as served

    global _recommender
    _recommender = served.loaded(settings, bundle).recommender


def _rank(rows: np.ndarray, k: int, profiles: Sequence[Profile]) -> Lists:
    from recsys.campaigns.offers import next_best

    assert _recommender is not None
    return next_best(_recommender, rows, k, profiles)


def pool_ranker(recommender: HybridRecommender, settings: ServingSettings, bundle: Path) -> Ranker:
    """A :data:`~recsys.campaigns.offers.Ranker`: big batches on worker processes
    (each with the bundle ``settings`` serve), small ones in this process."""
    from recsys.campaigns.offers import next_best

    def rank(rows: np.ndarray, k: int, profiles: Sequence[Profile]) -> Lists:
        workers = min(WORKERS, os.cpu_count() or 1)
        if workers < 2 or len(rows) < SMALL:
            return next_best(recommender, rows, k, profiles)
        context = multiprocessing.get_context("spawn")
        starts = range(0, len(rows), CHUNK)
        chunks = [rows[start : start + CHUNK] for start in starts]
        of = [list(profiles[start : start + CHUNK]) for start in starts]
        with ProcessPoolExecutor(workers, context, _start, (settings, bundle)) as pool:
            parts = list(pool.map(_rank, chunks, [k] * len(chunks), of))
        return [i for p in parts for i in p[0]], [r for p in parts for r in p[1]]

    return rank
