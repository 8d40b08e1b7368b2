"""``recsys audience``: the clients most likely to buy an item, a category or a tag, as CSV.

The bundle is read as the service serves it (its settings' blend weights, analyst
rules, catalogue and day: the ``RECSYS_*`` variables), and the audience leaves out
what the service would: deleted clients (``--tombstones``), offers declined or
postponed (the service's outcomes log, ``RECSYS_OUTCOMES_PATH``), and clients who
bought an item within its usual re-purchase interval.
"""

from __future__ import annotations

import csv
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys.errors import ConfigError, ModelError, NotFoundError
from training.cli import _events
from training.cli._errors import handle_errors
from training.cli._options import DEFAULT_TOMBSTONES, TombstonesOption

if TYPE_CHECKING:
    from recsys.audience import Audience, Exclusions, Target
    from serving.settings import ServingSettings
    from serving.state import Loaded

__all__ = ["audience"]


@handle_errors
def audience(
    bundle: Annotated[
        Path,
        typer.Option(
            "--bundle", help="A bundle directory, or a directory of bundles (CURRENT, else newest)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: client_id,rank,score,reason.")],
    item: Annotated[str | None, typer.Option("--item", help="An item id.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Every item of this category.")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Every item with this catalogue tag.")
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option("--segment", help="Only clients of this RFM segment (needs --features)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Clients to list.")] = 100,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features", envvar="RECSYS_FEATURES_PATH", help="Client features (segments)."
        ),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(
            "--day",
            envvar="RECSYS_TODAY",
            help="The day purchases are judged due on, YYYY-MM-DD (default: today, UTC).",
        ),
    ] = None,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
) -> None:
    """The K clients most likely to buy --item, or any item of --category or --tag, best
    first, each with a reason a manager can say aloud (docs/how-to/audiences.md)."""
    started = time.perf_counter()
    target = _target(item, category, tag)
    settings = _settings(bundle, _day(day))
    loaded = _loaded(settings, bundle)
    found = _audience(loaded, target, k, _exclusions(settings, segment, features, tombstones))
    _write(out, found)
    seconds = time.perf_counter() - started
    what = f"{target.kind} {target.value!r} ({len(found.items)} items)"
    typer.echo(f"{len(found.members)} clients of {what} written to {out} in {seconds:.1f} s")


def _target(item: str | None, category: str | None, tag: str | None) -> Target:
    """The one target given (exactly one of the three options)."""
    from recsys.audience import Target

    given = [(kind, v) for kind, v in (("item", item), ("category", category), ("tag", tag)) if v]
    if len(given) != 1:
        raise ConfigError("--item, --category, --tag: give exactly one of them")
    kind, value = given[0]
    return Target(kind, value)  # type: ignore[arg-type]


def _day(text: str | None) -> date | None:
    """``--day`` as a date (a bad one: exit 4 naming the option)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--day: {text!r} is not a date (YYYY-MM-DD)") from None


def _settings(bundle: Path, day: date | None) -> ServingSettings:
    """The service's settings (``RECSYS_*``) serving ``bundle`` on ``day``."""
    from serving.settings import ServingSettings

    return ServingSettings(bundle_path=bundle, mlflow_tracking_uri=None, today=day)


def _loaded(settings: ServingSettings, path: Path) -> Loaded:
    """The bundle with the service's blend, analyst rules and catalogue."""
    from datetime import UTC, datetime

    from serving.catalogue import stored_catalogue
    from serving.state import load

    try:
        loaded = load(settings)
    except ModelError as error:
        raise ConfigError(f"--bundle: {error}") from None
    catalogue = stored_catalogue(settings.catalogue_path, settings.redis_url)
    loaded.recommender.facts.sync(catalogue, datetime.now(UTC))
    return loaded


def _exclusions(
    settings: ServingSettings, segment: str | None, features: Path | None, tombstones: str
) -> Exclusions:
    """Deleted clients, held-back offers and the segment filter, as the service has them."""
    from recsys.audience import Exclusions
    from serving.event_store import EventStore
    from serving.outcomes import OutcomeState

    cooldown = timedelta(days=settings.outcome_cooldown_days)
    outcomes = OutcomeState(settings.outcomes_path, None, cooldown, settings.today)
    outcomes.replay(EventStore(settings.outcomes_path).read_all())
    segments = _segments(segment, features)
    return Exclusions(_events.tombstones(tombstones), outcomes.held_back, {}, segment, segments)


def _segments(segment: str | None, features: Path | None) -> dict[str, str]:
    """Client id → segment from the features file, when a segment is asked for."""
    if segment is None:
        return {}
    import pandas as pd

    from feature_store import SEGMENT_RULES

    names = [name for name, *_ in SEGMENT_RULES]
    if segment not in names:
        raise ConfigError(f"--segment: unknown segment {segment!r}; one of {', '.join(names)}")
    if features is None or not features.is_file():
        raise ConfigError(f"--segment: needs --features (client features), not {features}")

    table = pd.read_parquet(features, columns=["segment"])["segment"].dropna()
    return {str(c): str(s) for c, s in table.items()}


def _audience(loaded: Loaded, target: Target, k: int, exclusions: Exclusions) -> Audience:
    """The audience of ``target`` (an unknown one: exit 4 naming its option)."""
    from recsys.audience import audience, target_columns

    try:
        columns = target_columns(loaded.recommender, target)
    except NotFoundError:
        raise ConfigError(f"--{target.kind}: {target.missing}") from None
    return audience(loaded.recommender, columns, k, exclusions)


def _write(out: Path, found: Audience) -> None:
    """The CSV: client_id, rank, score, reason (the sentence)."""
    rows = [[m.client_id, m.rank, f"{m.score:.6g}", m.reason.text] for m in found.members]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([["client_id", "rank", "score", "reason"], *rows])
    except OSError as error:
        raise ConfigError(f"--out: cannot write {out} ({error.strerror or error})") from None
