"""Write every known client's top-k list into Redis ahead of traffic, in batches.

Each batch of clients is ranked at once (:meth:`HybridRecommender.for_clients`:
matrix products, not a request per client); clients are grouped by the segment
and country the feature store gives them, so a stored list is what a request of
the client would compute. A list is stored as its ranking (:mod:`serving.ranked`,
~300 bytes) and explained when read.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import redis

from recsys.errors import ConfigError
from recsys.privacy import client_hash, read_tombstones
from recsys.ranking import RequestOptions
from serving.cache import queue_list
from serving.catalogue import stored_catalogue
from serving.lists import cache_key
from serving.privacy import TOMBSTONE_SET
from serving.ranked import pack_ranking
from serving.settings import ServingSettings
from serving.state import Loaded, load

__all__ = ["Precomputed", "precompute"]

Progress = Callable[[int, int], None]
Target = tuple[RequestOptions, np.ndarray]


@dataclass(frozen=True)
class Precomputed:
    """What a precompute run wrote, and how fast."""

    version: str
    clients: int
    seconds: float
    bytes_per_list: float
    """Redis memory per stored list (the list and the client's key set), sampled."""

    @property
    def clients_per_second(self) -> float:
        """Lists written per second of the whole run."""
        return self.clients / self.seconds if self.seconds > 0 else 0.0


def precompute(
    settings: ServingSettings,
    k: int = 10,
    batch: int = 512,
    progress: Progress | None = None,
    limit: int | None = None,
    workers: int = 1,
) -> Precomputed:
    """Cache ``?k=<k>`` lists of the bundle's clients (the keys the service looks up for
    that query string, so a known client's first request is a hit): all of them, or
    the ``limit`` most active (most items bought). ``workers`` processes rank batches
    side by side (each maps the same bundle files: the pages are shared)."""
    if settings.redis_url is None:
        raise ConfigError("redis_url: precompute writes to Redis; set RECSYS_REDIS_URL")
    started = time.perf_counter()
    loaded = _load(settings)
    chosen = _most_active(loaded, limit, _tombstones(settings))
    tasks = [
        Task(rows[start : start + batch], k, options, settings.cache_ttl_seconds)
        for options, rows in _groups(settings, loaded, chosen)
        for start in range(0, len(rows), batch)
    ]
    done = 0
    for written in _run(settings, loaded, tasks, workers):
        done += written
        if progress is not None:
            progress(done, len(chosen))
    seconds = time.perf_counter() - started
    client = redis.Redis.from_url(settings.redis_url)
    size = _bytes_per_list(client, loaded, k, chosen)
    client.close()
    return Precomputed(loaded.version, done, seconds, size)


@dataclass(frozen=True)
class Task:
    """One batch of bundle rows to rank and write."""

    rows: np.ndarray
    k: int
    options: RequestOptions
    ttl: int


_worker: tuple[Loaded, redis.Redis] | None = None


def _run(
    settings: ServingSettings, loaded: Loaded, tasks: list[Task], workers: int
) -> Iterator[int]:
    """Each task's written count, in this process or in ``workers`` processes."""
    global _worker
    if workers <= 1:
        _worker = (loaded, redis.Redis.from_url(str(settings.redis_url)))
        yield from map(_work, tasks)
        return
    context = multiprocessing.get_context("spawn")  # no forked BLAS or faiss threads
    with ProcessPoolExecutor(workers, context, _start, (settings,)) as pool:
        yield from pool.map(_work, tasks)


def _start(settings: ServingSettings) -> None:
    """A worker process: load the bundle (memory-mapped) and connect."""
    global _worker
    _worker = (_load(settings), redis.Redis.from_url(str(settings.redis_url)))


def _load(settings: ServingSettings) -> Loaded:
    """The bundle the service serves, its item facts brought up to the stored catalogue
    (so no unavailable item is stored; titles and categories as the catalogue says)."""
    loaded = load(settings)
    catalogue = stored_catalogue(settings.catalogue_path, settings.redis_url)
    loaded.recommender.facts.sync(catalogue, datetime.now(UTC))
    return loaded


def _tombstones(settings: ServingSettings) -> frozenset[str]:
    """Deleted clients: the tombstone file and the shared set."""
    client = redis.Redis.from_url(str(settings.redis_url))
    shared = {m.decode() if isinstance(m, bytes) else m for m in client.smembers(TOMBSTONE_SET)}
    client.close()
    return read_tombstones(settings.tombstones_path) | shared


def _work(task: Task) -> int:
    assert _worker is not None
    loaded, client = _worker
    _write(client, loaded, task.rows, task.k, task.options, task.ttl)
    return len(task.rows)


def _write(
    client: redis.Redis, loaded: Loaded, rows: np.ndarray, k: int, o: RequestOptions, ttl: int
) -> None:
    """Rank one batch and write its lists in one pipeline."""
    ids = loaded.bundle.data.clients.ids
    pipe = client.pipeline(transaction=False)
    ranked = loaded.recommender.rank_clients(rows, k, o)
    for i, row in enumerate(rows.tolist()):
        client_id = str(ids[row])
        stored = pack_ranking(client_id, ranked.row(i), o)
        queue_list(pipe, _key(loaded, client_id, k), client_id, stored, ttl)
    pipe.execute()


def _key(loaded: Loaded, client_id: str, k: int) -> str:
    return cache_key(loaded.cache_version, client_id, f"k={k}".encode())


def _most_active(loaded: Loaded, limit: int | None, gone: frozenset[str]) -> np.ndarray:
    """Rows of the ``limit`` clients with the most items (all rows without a limit),
    deleted clients left out."""
    matrix = loaded.bundle.data.matrix
    sizes = np.diff(matrix.indptr)
    if gone:
        ids = loaded.bundle.data.clients.ids.tolist()
        sizes[[i for i, c in enumerate(ids) if client_hash(str(c)) in gone]] = -1
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] >= 0]
    return np.sort(order if limit is None else order[:limit])


def _groups(settings: ServingSettings, loaded: Loaded, chosen: np.ndarray) -> Iterator[Target]:
    """``chosen`` rows grouped by (segment, favourite country) from the offline features."""
    if settings.features_path is None:
        yield RequestOptions(), chosen
        return
    features = pd.read_parquet(settings.features_path, columns=["segment", "favourite_country"])
    rows = loaded.bundle.data.clients.index(features.index.astype(str))
    keep = np.isin(rows, chosen)
    known = features.assign(row=rows)[keep].fillna("")
    for (segment, country), group in known.groupby(["segment", "favourite_country"]):
        options = RequestOptions(segment=str(segment) or None, country=str(country) or None)
        yield options, group["row"].to_numpy()
    rest = np.setdiff1d(chosen, known["row"].to_numpy())
    if rest.size:
        yield RequestOptions(), rest


def _bytes_per_list(
    client: redis.Redis, loaded: Loaded, k: int, written: np.ndarray, sample: int = 200
) -> float:
    """Mean ``MEMORY USAGE`` of a sample of stored lists and their clients' key sets."""
    ids = loaded.bundle.data.clients.ids
    rng = np.random.default_rng(0)
    picked = rng.choice(written, min(sample, len(written)), replace=False)
    sizes = []
    for row in picked.tolist():
        client_id = str(ids[row])
        used = client.memory_usage(_key(loaded, client_id, k)) or 0
        sizes.append(used + (client.memory_usage(f"keys:{client_id}") or 0))
    return float(np.mean(sizes)) if sizes else 0.0
