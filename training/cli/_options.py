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
    typer.Option("--format", help="Input format: canonical, online-retail or events-log."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a setting, e.g. als.factors=32, matrix.weighting=log1p or "
        "cleaning.non_positive_price=false.",
    ),
]
CleaningSetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a cleaning setting, e.g. cleaning.duplicates=false."),
]
SkipStepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-step",
        help="Switch a cleaning step off (repeatable): non_purchase, duplicates, cancellations, "
        "non_positive_quantity, non_product, non_positive_price.",
    ),
]

TombstonesOption = Annotated[
    str,
    typer.Option(
        "--tombstones",
        envvar="RECSYS_TOMBSTONES_PATH",
        help="Deleted clients whose events are dropped: the service's tombstone file, or "
        "redis://… (the set every replica writes). A missing file: none.",
    ),
]
#: Where the service writes tombstones unless told otherwise.
DEFAULT_TOMBSTONES = "artifacts/tombstones.txt"
