"""How ``recsys keys``, ``recsys users`` and ``recsys audit`` print rows and read
``--since``: kept apart from the commands so each file stays short."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer

from recsys.errors import ConfigError

__all__ = ["print_rows", "since"]


def print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    """``rows`` as JSON Lines, or as a table with a header and aligned columns."""
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        typer.echo("(none)", err=True)
        return
    cells = [list(rows[0])] + [[_cell(v) for v in row.values()] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    for line in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    """One table cell: ``-`` for nothing, lists comma-joined, objects as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def since(text: str | None) -> datetime | None:
    """``--since`` as a time (None when not given); ConfigError with an example."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        example = "2025-01-31 or 2025-01-31T12:00:00+00:00"
        raise ConfigError(f"--since {text!r}: not an ISO date or time, e.g. {example}") from None
