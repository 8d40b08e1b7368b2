"""Each client's segment and country, as requests target analyst rules and segment
popularity with them (:func:`serving.ranked.client_options`): from the features file
(served from memory), else from the Redis feature store the service reads
(:func:`serving.app.open_features`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from redis.exceptions import RedisError

from feature_store import OnlineStore
from feature_store.online import READ, READ_KEYS, decode_row
from recsys.audience import FIELDS, Profile, profile_of, profiles_of
from recsys.errors import ConfigError
from serving.settings import ServingSettings

__all__ = ["LiveProfiles", "Profiles", "as_fields", "read_profiles", "strict", "tolerant"]

log = logging.getLogger("recsys.serving")

Profiles = Callable[[np.ndarray], dict[str, Profile]]
"""How a bundle's load reads its clients' profiles (given the bundle's client ids)."""


def read_profiles(settings: ServingSettings, clients: Sequence[str]) -> dict[str, Profile]:
    """Profiles of the features file's clients, or of ``clients`` from Redis (one
    pipelined read per 1,000); none without either. A file that cannot be read is a
    :class:`ConfigError` naming it; Redis errors are the caller's."""
    path = settings.features_path
    if path is not None:
        try:
            return profiles_of(pd.read_parquet(path))
        except (OSError, ValueError) as error:
            raise ConfigError(f"{path}: cannot read the client features ({error})") from None
    if settings.redis_url is None:
        return {}
    rows = OnlineStore(settings.redis_url).fields_of(list(clients), FIELDS)
    return {client: profile_of(row) for client, row in rows.items()}


class LiveProfiles:
    """One client's current features from the Redis feature store, read on the event
    loop: the store's own one-round-trip script through the service's async client.
    Through the store's blocking client a list's read took a worker thread and the GIL
    back and forth: under a flood of misses through Redis it was the lists' bottleneck
    (``bench/all_miss.py --redis``; docs/explanation/benchmarks.md). The timeout is the
    service client's (0.2 s, where the store's own is 0.5 s)."""

    def __init__(self, client: Any) -> None:
        self._read = client.register_script(READ)

    async def get(self, client_id: str) -> dict[str, Any] | None:
        """:meth:`feature_store.OnlineStore.get`, awaited (Redis errors are the caller's)."""
        return decode_row(await self._read(keys=list(READ_KEYS), args=[client_id]))


def as_fields(profile: Profile) -> dict[str, str | None]:
    """A profile as the feature fields a request's options are read from."""
    return dict(zip(FIELDS, profile, strict=True))


def strict(settings: ServingSettings) -> Profiles:
    """:func:`read_profiles`, a feature store that does not answer an error (batch jobs:
    every process must rank with the same profiles)."""
    return lambda clients: read_profiles(settings, clients.tolist())


def tolerant(settings: ServingSettings, fallback: dict[str, Profile]) -> Profiles:
    """:func:`read_profiles`; when the Redis feature store does not answer, ``fallback``
    (the service's: the profiles it serves, so a reload never loses them), logged."""

    def read(clients: np.ndarray) -> dict[str, Profile]:
        try:
            return read_profiles(settings, clients.tolist())
        except (RedisError, OSError) as error:
            log.warning("client features unreadable (%s): %d profiles kept", error, len(fallback))
            return fallback

    return read
