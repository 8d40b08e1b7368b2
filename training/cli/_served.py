"""What the commands that read the served models share: the bundle as the service
serves it (its ``RECSYS_*`` settings, analyst rules, catalogue and day), and what it
leaves out (deleted clients, held-back offers, other segments)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.errors import ConfigError, ModelError
from training.cli import _events

if TYPE_CHECKING:
    import pandas as pd

    from recsys.audience import Exclusions
    from serving.settings import ServingSettings
    from serving.state import Loaded

__all__ = [
    "day",
    "exclusions",
    "features_table",
    "loaded",
    "outcome_records",
    "purchases_since",
    "segments",
    "settings",
]


def day(text: str | None, option: str = "--day") -> date | None:
    """``text`` as a date (a bad one: exit 4 naming ``option``)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def settings(bundle: Path, today: date | None) -> ServingSettings:
    """The service's settings (``RECSYS_*``) serving ``bundle`` on ``today``."""
    from serving.settings import ServingSettings

    return ServingSettings(bundle_path=bundle, mlflow_tracking_uri=None, today=today)


def loaded(settings: ServingSettings, path: Path) -> Loaded:
    """The bundle with the service's blend, analyst rules and catalogue."""
    from redis.exceptions import RedisError

    from serving.catalogue import stored_catalogue
    from serving.profiles import strict
    from serving.state import load

    try:
        found = load(settings, profiles=strict(settings))
    except ModelError as error:
        raise ConfigError(f"--bundle: {error}") from None
    except RedisError as error:  # the feature store, read as the service reads it
        raise ConfigError(f"RECSYS_REDIS_URL: cannot read client features ({error})") from None
    catalogue = stored_catalogue(settings.catalogue_path, settings.redis_url)
    found.recommender.facts.sync(catalogue, datetime.now(UTC))
    return found


def exclusions(
    settings: ServingSettings,
    tombstones: str,
    segment: str | None,
    named: dict[str, str],
    bought: dict[str, set[str]] | None = None,
) -> Exclusions:
    """Deleted clients, held-back offers, purchases since training (``bought``) and the
    segment filter (``named``: client id → segment), as the service has them."""
    from recsys.audience import Exclusions
    from serving.outcomes import OutcomeState

    cooldown = timedelta(days=settings.outcome_cooldown_days)
    outcomes = OutcomeState(settings.outcomes_path, None, cooldown, settings.today)
    outcomes.replay(outcome_records(settings))
    forgotten = _events.tombstones(tombstones)
    return Exclusions(forgotten, outcomes.held_back, bought or {}, segment, named)


def purchases_since(settings: ServingSettings, found: Loaded) -> dict[str, set[str]]:
    """Client → items bought after the events the bundle was trained on: the service's
    event log, or with ``redis_url`` the stream every replica writes (as a replica
    started now would fold them in)."""
    from serving.event_store import EventStore

    bundle = found.bundle
    if settings.redis_url is None:
        records = EventStore(settings.events_path).read_after(
            bundle.events_position, bundle.created_at
        )
    else:
        from serving.stream import start_after

        start = start_after(bundle.events_position, bundle.created_at)
        records = _stream(settings.redis_url, settings.events_stream, start)
    bought: dict[str, set[str]] = {}
    for event in records:
        if event.get("type", "purchase") == "purchase" and "client_id" in event:
            bought.setdefault(str(event["client_id"]), set()).add(str(event["item_id"]))
    return bought


def outcome_records(settings: ServingSettings) -> list[dict[str, Any]]:
    """Every stored manager outcome: the log file, and with ``redis_url`` the stream
    every replica writes (the file then holds what Redis could not take); each once."""
    from serving.event_store import EventStore
    from serving.outcomes import OUTCOMES_STREAM

    records = EventStore(settings.outcomes_path).read_all()
    if settings.redis_url is not None:
        records += _stream(settings.redis_url, OUTCOMES_STREAM)
    return list({r["id"]: r for r in records}.values())


def _stream(url: str, stream: str, start: str = "-") -> list[dict[str, Any]]:
    """The records of ``stream`` after ``start`` (exclusive; ``-``: all)."""
    import redis

    from serving.stream import records_after

    client = redis.Redis.from_url(url)
    try:
        return list(records_after(client, stream, start))
    except redis.RedisError as error:
        raise ConfigError(f"RECSYS_REDIS_URL: cannot read {stream} ({error})") from None
    finally:
        client.close()


def segments(segment: str | None, features: Path | None) -> dict[str, str]:
    """Client id → segment from the features file, when a segment is asked for."""
    if segment is None:
        return {}
    table = features_table(features, "--segment", segment)
    return {str(c): str(s) for c, s in table["segment"].dropna().items()}


def features_table(
    features: Path | None, why: str, segment: str | None = None, columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The client feature table (indexed by client id); ``why``: the option that needs
    it (a missing file, one without ``columns``, or an unknown ``segment``: exit 4
    naming it)."""
    import pandas as pd

    from feature_store import SEGMENT_RULES

    names = [name for name, *_ in SEGMENT_RULES]
    if segment is not None and segment not in names:
        raise ConfigError(f"{why}: unknown segment {segment!r}; one of {', '.join(names)}")
    if features is None or not features.is_file():
        raise ConfigError(f"{why}: needs --features (client features), not {features}")
    try:
        table = pd.read_parquet(features)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--features: cannot read {features} ({error})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ConfigError(f"{why}: {features} has no column {missing[0]!r} (recsys features build)")
    return table
