"""``recsys synth``: write synthetic events for benchmarks at scale."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from training.cli._errors import handle_errors


@handle_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Output: .parquet, .csv or .csv.gz.")],
    clients: Annotated[int, typer.Option(help="Distinct clients.")] = 10_000,
    items: Annotated[int, typer.Option(help="Distinct items.")] = 2_000,
    events: Annotated[int, typer.Option(help="Purchase lines.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    item_exponent: Annotated[
        float,
        typer.Option(min=0.01, help="Zipf exponent of item popularity (lower: more items seen)."),
    ] = 1.0,
) -> None:
    """Synthetic events: power-law popularity and activity, taste clusters, one year."""
    from recsys.data import write_table
    from recsys.synth import SynthConfig, synthesize

    config = SynthConfig(
        clients=clients, items=items, events=events, seed=seed, item_exponent=item_exponent
    )
    started = time.perf_counter()
    table = synthesize(config)
    write_table(table, out)
    typer.echo(f"wrote {table.num_rows:,} events to {out} in {time.perf_counter() - started:.1f}s")
