"""``recsys events export``: the events every replica accepted, read back for training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys.errors import ConfigError
from training.cli import _events
from training.cli._errors import handle_errors
from training.cli._options import DEFAULT_TOMBSTONES, TombstonesOption

app = typer.Typer(help="Events the service accepted (the Redis stream).", no_args_is_help=True)


@app.command()
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", help=".parquet, .csv, .csv.gz or .jsonl")],
    redis_url: Annotated[
        str | None,
        typer.Option(envvar="RECSYS_REDIS_URL", help="Redis holding the stream."),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(envvar="RECSYS_EVENTS_STREAM", help="Stream name [default: recsys:events]."),
    ] = None,
    trim: Annotated[
        bool, typer.Option(help="Then remove exactly the exported entries from the stream.")
    ] = False,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
) -> None:
    """Write every event of the stream, deduplicated by event_id, in the events-log format
    (train on it with --extra-events); nothing is removed unless --trim is given."""
    from serving.stream import DEFAULT_STREAM
    from training.events import export_stream

    if not redis_url:
        raise ConfigError("events: give --redis-url or set RECSYS_REDIS_URL")
    gone = _events.tombstones(tombstones)
    exported = export_stream(redis_url, stream or DEFAULT_STREAM, out, trim, gone)
    typer.echo(
        f"{len(exported.events):,} events ({exported.entries:,} stream entries) → {out}"
        + (f"; stream trimmed through {exported.last_id}" if trim else "")
    )
