"""``recsys features list|build``: the client feature table, offline and online."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from recsys.errors import ConfigError
from training.cli import _events
from training.cli._errors import handle_errors
from training.cli._options import (
    DEFAULT_TOMBSTONES,
    CleaningSetOption,
    EventsOption,
    FormatOption,
    SkipStepOption,
    TombstonesOption,
)

app = typer.Typer(help="Client features: RFM, segments, rhythm.", no_args_is_help=True)


@app.command(name="list")
def list_features() -> None:
    """Every feature: name, type, description, how it is computed."""
    from feature_store.definitions import FEATURES

    for f in FEATURES:
        typer.echo(f"{f.name:<24} {f.dtype:<6} {f.description}: {f.computation}")


@app.command()
@handle_errors
def build(
    events: EventsOption,
    as_of: Annotated[str, typer.Option("--as-of", help="Only events before this date count.")],
    out: Annotated[Path, typer.Option("--out", help="Offline table (.parquet).")],
    fmt: FormatOption = "canonical",
    redis_url: Annotated[
        str | None, typer.Option(help="Online store; default RECSYS_REDIS_URL, else in-process.")
    ] = None,
    overrides: CleaningSetOption = None,
    skip: SkipStepOption = None,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
) -> None:
    """Write the offline table and materialise the online store (versioned).

    Returns and cancellations always stay (monetary is net of them); the other
    cleaning steps are switched as for every command."""
    import pandas as pd

    from feature_store import OnlineStore, build_features
    from recsys.bundle import data_fingerprint
    from recsys.data import read_events

    try:
        cut = pd.Timestamp(as_of)
    except ValueError:
        raise ConfigError(f"as_of: {as_of!r} is not a date") from None
    cleaning = _events.forgetting(_events.cleaning(overrides, skip), tombstones)
    raw = read_events(events, fmt)
    table = build_features(raw, cut, cleaning=cleaning)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.assign(next_contact=table["next_contact"].astype(str)).to_parquet(out)
    version = f"{cut.date()}-{data_fingerprint(raw)[:8]}"
    store = OnlineStore(redis_url or os.environ.get("RECSYS_REDIS_URL"))
    count = store.materialise(table, version)
    where = "Redis" if store.redis is not None else "the in-process store"
    typer.echo(f"{count:,} clients as of {cut.date()} → {out}; online version {version} in {where}")
