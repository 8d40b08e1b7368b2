"""Write every known client's top-k list into Redis ahead of traffic, in batches.

A stored list is what a request would compute when it is written (:mod:`serving.ranked`
decides both). The run reads each client's generation (:mod:`serving.cache`) first,
then what a replica started now would know: purchases and deletions since training
(events stream), declined and postponed offers (outcomes stream). Clients with
purchases or held-back offers since are ranked and stored as a request does; the
others a batch at once (:meth:`HybridRecommender.rank_clients`), grouped by the
segment and country the feature store gives them, stored as their ranking
(:mod:`serving.ranked`, ~300 bytes) and explained when read. A list is stored only
while its client's generation is the one read first: an event during the run
either drops it or keeps it from being stored.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import redis

from recsys.audience import FIELDS, Profile
from recsys.errors import ConfigError
from recsys.privacy import client_hash, read_tombstones
from recsys.ranking import RequestOptions
from serving.cache import STORE, generations, queue_store
from serving.catalogue import CatalogueState, stored_catalogue
from serving.lists import cache_key, stored_list
from serving.outcomes import OUTCOMES_STREAM, OutcomeState
from serving.privacy import FORGET, TOMBSTONE_SET
from serving.profiles import Profiles, as_fields, strict
from serving.ranked import Arrivals, ClientNow, client_now, client_options, pack_ranking, rank_list
from serving.settings import ServingSettings
from serving.state import Loaded, ServiceState, load
from serving.stream import records_after, start_after

__all__ = ["Precomputed", "precompute"]

Progress = Callable[[int, int], None]
Target = tuple[RequestOptions, np.ndarray]
Fields = dict[str, str | None]
"""A client's targeting features as a request reads them (segment, favourite country)."""
_CHUNK = 1000


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
    loaded, catalogue = _load(settings, strict(settings))  # one read: workers get it
    client = redis.Redis.from_url(settings.redis_url)
    chosen = _most_active(loaded, limit, _tombstones(client, settings))
    now = _since_training(client, settings, loaded, catalogue, chosen)
    done = 0
    for written in _write_all(settings, loaded, now, k, batch, workers):
        done += written
        if progress is not None:
            progress(done, len(now.chosen))
    seconds = time.perf_counter() - started
    size = _bytes_per_list(client, loaded, k, now.chosen)
    client.close()
    return Precomputed(loaded.version, done, seconds, size)


@dataclass(frozen=True)
class Now:
    """What the run's lists depend on beside the bundle, read when it started."""

    chosen: np.ndarray
    """Bundle rows to write."""
    seen: dict[str, bytes]
    """Each chosen client's generation, read before the rest."""
    state: ServiceState
    """Purchases and deletions since training."""
    outcomes: OutcomeState
    catalogue: CatalogueState
    profiles: dict[str, Fields]


@dataclass(frozen=True)
class Task:
    """One batch of bundle rows to rank and write, with their clients' generations."""

    rows: np.ndarray
    k: int
    options: RequestOptions
    ttl: int
    seen: list[bytes]


_worker: tuple[Loaded, redis.Redis] | None = None


def _write_all(
    settings: ServingSettings, loaded: Loaded, now: Now, k: int, batch: int, workers: int
) -> Iterator[int]:
    """Each written count: the clients with events since training, then the batches
    (clients deleted meanwhile left out)."""
    ids = loaded.bundle.data.clients.ids
    whom = [client_now(now.state, now.outcomes, str(ids[r])) for r in now.chosen.tolist()]
    eventful = np.array([w.eventful for w in whom], dtype=bool)
    plain = np.array([w.client_id is not None and not w.eventful for w in whom], dtype=bool)
    yield from _one_by_one(settings, loaded, now, k, now.chosen[eventful])
    tasks = [
        Task(part, k, options, settings.cache_ttl_seconds, [now.seen[str(ids[r])] for r in part])
        for options, rows in _groups(loaded, now.profiles, now.chosen[plain])
        for part in np.array_split(rows, range(batch, len(rows), batch))
    ]
    yield from _run(settings, loaded, tasks, workers)


def _run(
    settings: ServingSettings, loaded: Loaded, tasks: list[Task], workers: int
) -> Iterator[int]:
    """Each task's written count, in this process or in ``workers`` processes."""
    global _worker
    if workers <= 1:
        _worker = (loaded, redis.Redis.from_url(str(settings.redis_url)))
        yield from map(_write, tasks)
        return
    context = multiprocessing.get_context("spawn")  # no forked BLAS or faiss threads
    with ProcessPoolExecutor(workers, context, _start, (settings, loaded.profiles)) as pool:
        yield from pool.map(_write, tasks)


def _start(settings: ServingSettings, profiles: dict[str, Profile]) -> None:
    """A worker process: load the bundle (memory-mapped) with the run's profiles, and
    connect."""
    global _worker
    loaded = _load(settings, lambda _: profiles)[0]
    _worker = (loaded, redis.Redis.from_url(str(settings.redis_url)))


def _load(settings: ServingSettings, profiles: Profiles) -> tuple[Loaded, CatalogueState]:
    """The bundle the service serves, its item facts brought up to the stored catalogue
    (so no unavailable item is stored; titles and categories as the catalogue says)."""
    loaded = load(settings, profiles=profiles)
    catalogue = CatalogueState(settings.catalogue_path, today=settings.today)
    catalogue.catalogue = stored_catalogue(settings.catalogue_path, settings.redis_url)
    loaded.recommender.facts.sync(catalogue.catalogue, catalogue.clock())
    return loaded, catalogue


def _since_training(
    client: redis.Redis,
    settings: ServingSettings,
    loaded: Loaded,
    catalogue: CatalogueState,
    chosen: np.ndarray,
) -> Now:
    """Generations first, then the events and outcomes since training, as a replica
    started now knows them (``serving.app`` follows the same streams)."""
    ids = [str(c) for c in loaded.bundle.data.clients.ids[chosen]]
    seen = dict(zip(ids, generations(client, ids), strict=True))
    state = _purchases_since(client, settings, loaded)
    cooldown = timedelta(days=settings.outcome_cooldown_days)
    outcomes = OutcomeState(settings.outcomes_path, None, cooldown, settings.today)
    outcomes.replay(records_after(client, OUTCOMES_STREAM, "0-0"))  # the whole stream, as replicas
    return Now(chosen, seen, state, outcomes, catalogue, _fields(loaded, ids))


def _purchases_since(
    client: redis.Redis, settings: ServingSettings, loaded: Loaded
) -> ServiceState:
    """Purchases and deletions after the events the bundle was trained on (the
    follower's start and handling in ``serving.app``)."""
    state = ServiceState(settings)
    state.forgotten |= _tombstones(client, settings)
    start = start_after(loaded.bundle.events_position, loaded.bundle.created_at)
    for event in records_after(client, settings.events_stream, start):
        if event.get("type") == FORGET:
            state.forget(str(event["client_hash"]))
        elif event.get("type", "purchase") == "purchase":
            state.remember(str(event["client_id"]), str(event["item_id"]))
    return state


def _one_by_one(
    settings: ServingSettings, loaded: Loaded, now: Now, k: int, rows: np.ndarray
) -> Iterator[int]:
    """Rank and store ``rows`` as requests do (their purchases and held-back offers
    since training counted), a pipeline per chunk."""
    client, ids = redis.Redis.from_url(str(settings.redis_url)), loaded.bundle.data.clients.ids
    store, catalogue = client.register_script(STORE), now.catalogue
    arrivals = Arrivals(
        settings.new_arrivals_slots, catalogue.catalogue, now.state.bought_since, catalogue.clock()
    )
    for part in np.array_split(rows, range(_CHUNK, len(rows), _CHUNK)):
        pipe = client.pipeline(transaction=False)
        for who in (client_now(now.state, now.outcomes, str(ids[r])) for r in part.tolist()):
            assert who.client_id is not None  # deleted clients are not eventful
            options = client_options(RequestOptions(), who, now.profiles.get(who.client_id, {}))
            items = rank_list(loaded.recommender, who, k, options, arrivals)
            stored = stored_list(catalogue, who.client_id, loaded.version, items, None)[1]
            key, seen = _key(loaded, who.client_id, k), now.seen[who.client_id]
            queue_store(store, pipe, key, who.client_id, stored, settings.cache_ttl_seconds, seen)
        pipe.execute()
        yield len(part)
    client.close()


def _write(task: Task) -> int:
    """Rank one batch and write its lists in one pipeline; how many."""
    assert _worker is not None
    loaded, client = _worker
    ids = loaded.bundle.data.clients.ids
    pipe, store = client.pipeline(transaction=False), client.register_script(STORE)
    ranked = loaded.recommender.rank_clients(task.rows, task.k, task.options)
    for i, (row, seen) in enumerate(zip(task.rows.tolist(), task.seen, strict=True)):
        client_id = str(ids[row])
        stored = pack_ranking(client_id, ranked.row(i), task.k, task.options)
        queue_store(store, pipe, _key(loaded, client_id, task.k), client_id, stored, task.ttl, seen)
    pipe.execute()
    return len(task.rows)


def _key(loaded: Loaded, client_id: str, k: int) -> str:
    return cache_key(loaded.cache_version, client_id, f"k={k}".encode())


def _tombstones(client: redis.Redis, settings: ServingSettings) -> frozenset[str]:
    """Deleted clients: the tombstone file and the shared set."""
    shared = {m.decode() if isinstance(m, bytes) else m for m in client.smembers(TOMBSTONE_SET)}
    return read_tombstones(settings.tombstones_path) | shared


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


def _fields(loaded: Loaded, clients: list[str]) -> dict[str, Fields]:
    """The profiles of ``clients`` the run read, as the feature fields a request reads."""
    found = loaded.profiles
    return {c: as_fields(found[c]) for c in clients if c in found}


def _groups(loaded: Loaded, profiles: dict[str, Fields], rows: np.ndarray) -> Iterator[Target]:
    """``rows`` grouped by their targeting (segment, favourite country), with the
    options each group is ranked with."""
    ids = loaded.bundle.data.clients.ids
    grouped: dict[tuple[str | None, ...], list[int]] = {}
    for row in rows.tolist():
        profile = profiles.get(str(ids[row]), {})
        grouped.setdefault(tuple(profile.get(f) for f in FIELDS), []).append(row)
    for values, members in grouped.items():
        profile = dict(zip(FIELDS, values, strict=True))
        yield client_options(RequestOptions(), ClientNow(None), profile), np.array(members)


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
