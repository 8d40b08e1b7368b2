"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EventsOption = Annotated[
    Path, typer.Option("--events", help="Events file: .csv, .csv.gz or .parquet.")
]
FormatOption = Annotated[
    str,
    typer.Option("--format", help="Input format: canonical or online-retail."),
]
