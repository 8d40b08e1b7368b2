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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys.errors import ConfigError, NotFoundError
from training.cli import _served as served
from training.cli._errors import handle_errors
from training.cli._options import DEFAULT_TOMBSTONES, TombstonesOption

if TYPE_CHECKING:
    from recsys.audience import Audience, Exclusions, Profile, Target
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
    settings = served.settings(bundle, served.day(day))
    if features is not None and features.is_file():  # segments and countries, as served
        settings = settings.model_copy(update={"features_path": features})
    loaded = served.loaded(settings, bundle)
    named, bought = served.segments(segment, features), served.purchases_since(settings, loaded)
    rules = served.exclusions(settings, tombstones, segment, named, bought)
    found = _audience(loaded, target, k, rules, loaded.profiles)
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


def _audience(
    loaded: Loaded, target: Target, k: int, exclusions: Exclusions, profiles: dict[str, Profile]
) -> Audience:
    """The audience of ``target`` (an unknown one: exit 4 naming its option)."""
    from recsys.audience import audience, target_columns

    try:
        columns = target_columns(loaded.recommender, target)
    except NotFoundError:
        raise ConfigError(f"--{target.kind}: {target.missing}") from None
    return audience(loaded.recommender, columns, k, exclusions, profiles=profiles)


def _write(out: Path, found: Audience) -> None:
    """The CSV: client_id, rank, score, reason (the sentence)."""
    rows = [[m.client_id, m.rank, f"{m.score:.6g}", m.reason.text] for m in found.members]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([["client_id", "rank", "score", "reason"], *rows])
    except OSError as error:
        raise ConfigError(f"--out: cannot write {out} ({error.strerror or error})") from None
