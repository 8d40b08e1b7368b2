"""``recsys data …``: look at an events file before training on it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from training.cli import _engine, _events
from training.cli._errors import handle_errors
from training.cli._options import CleaningSetOption, FormatOption, SkipStepOption

app = typer.Typer(help="Inspect event files.", no_args_is_help=True)


def _render(stats: dict[str, Any]) -> str:
    lines = [
        f"source          {stats['source']} ({stats['format']})",
        f"rows read       {stats['rows_read']:,}",
        f"rows kept       {stats['rows_kept']:,}",
    ]
    lines += [f"  dropped {name:<22} {count:,}" for name, count in stats["dropped"].items()]
    lines += [
        f"rows w/o client {stats['rows_without_client']:,} (kept for baskets, not in the matrix)",
        f"clients         {stats['clients']:,}",
        f"items           {stats['items']:,}",
        f"orders          {stats['orders']:,}",
        f"dates           {stats['date_min']} .. {stats['date_max']}",
        f"density         {stats['density']:.5f} ({stats['interactions']:,} client-item pairs)",
    ]
    return "\n".join(lines)


@app.command()
@handle_errors
def inspect(
    events: _engine.SourceOption,
    fmt: FormatOption = "canonical",
    overrides: CleaningSetOption = None,
    skip: SkipStepOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    engine: _engine.EngineOption = "local",
    master: _engine.SparkMasterOption = "local[*]",
    progress: _engine.SparkProgressOption = False,
) -> None:
    """Rows read, kept and dropped by reason; clients, items, orders, dates, density."""
    from recsys.data import summarize

    config = _events.cleaning(overrides, skip)
    spark = _engine.spark(engine, master, progress)
    if spark is not None:
        from training.spark.jobs import summarize as spark_summarize

        found = _engine.load_spark(spark, events, fmt, config)
        stats = {**found.report.as_dict(), **spark_summarize(found.frame)}
    else:
        loaded = _events.load(_engine.local_path(events), fmt, config)
        stats = {**loaded.report.as_dict(), **summarize(loaded.events)}
    typer.echo(json.dumps(stats, indent=2) if as_json else _render(stats))
