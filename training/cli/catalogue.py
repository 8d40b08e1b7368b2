"""``recsys catalogue import``: load a catalogue file into the service's store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from training.cli._errors import handle_errors

app = typer.Typer(help="The catalogue the service offers from.", no_args_is_help=True)


@app.command(name="import")
@handle_errors
def import_(
    items: Annotated[Path, typer.Option("--items", help="Catalogue: .csv, .csv.gz or .parquet.")],
    redis_url: Annotated[
        str | None,
        typer.Option(envvar="RECSYS_REDIS_URL", help="Store in Redis (every replica follows)."),
    ] = None,
    path: Annotated[
        Path,
        typer.Option(envvar="RECSYS_CATALOGUE_PATH", help="Local store without Redis."),
    ] = Path("artifacts/catalogue.jsonl"),
) -> None:
    """Upsert every row (item_id, title, category, price, available, tags,
    available_from, available_until); the first bad value stops the import, naming
    file, row and column, before anything is stored."""
    from recsys.catalogue import read_items
    from serving.catalogue import store_items

    started = time.perf_counter()
    found = read_items(items)
    stored = store_items(found, path, redis_url)
    where = (redis_url and "Redis") or str(path)
    _audit(items, stored)
    typer.echo(f"{stored} items stored in {where} in {time.perf_counter() - started:.1f} s")


def _audit(items: Path, stored: int) -> None:
    """The import in the audit log; stored already, so a failed line is only said."""
    from training.cli.access import record_action

    try:
        record_action("catalogue.import", items.name, {"items": stored})
    except Exception as error:
        typer.echo(f"warning: imported, but the audit log was not written: {error}", err=True)
