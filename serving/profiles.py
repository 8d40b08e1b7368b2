"""Each client's segment and country, as requests target analyst rules and segment
popularity with them (:func:`serving.ranked.client_options`): from the features file
(served from memory), else from the Redis feature store the service reads
(:func:`serving.app.open_features`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from feature_store import OnlineStore
from recsys.audience import FIELDS, Profile, profile_of, profiles_of
from recsys.errors import ConfigError
from serving.settings import ServingSettings

__all__ = ["as_fields", "read_profiles"]


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


def as_fields(profile: Profile) -> dict[str, str | None]:
    """A profile as the feature fields a request's options are read from."""
    return dict(zip(FIELDS, profile, strict=True))
