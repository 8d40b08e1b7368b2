"""``recsys report team``: the head of sales' daily form, per manager."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys.errors import ConfigError
from training.cli import _events
from training.cli._errors import handle_errors
from training.cli._options import FormatOption

if TYPE_CHECKING:  # pandas loads inside the command, not for --help
    import pandas as pd

__all__ = ["app", "team"]

app = typer.Typer(help="Reports for the sales team.", no_args_is_help=True)


@app.callback()
def reports() -> None:
    """Reports for the sales team."""  # a group even with one command: ``report team``


@app.command()
@handle_errors
def team(
    day: Annotated[
        str | None, typer.Option("--date", help="The day (YYYY-MM-DD, UTC) [default: today].")
    ] = None,
    outcomes: Annotated[str, typer.Option(help="Outcome log: file or redis://…")] = (
        "artifacts/outcomes.jsonl"
    ),
    events: Annotated[
        str, typer.Option(help="Event log: file or redis://… (events-log), or a purchases file.")
    ] = "artifacts/events.jsonl",
    fmt: FormatOption = "events-log",
    window_days: Annotated[
        float, typer.Option("--window-days", help="Attribution window after an accepted offer.")
    ] = 7.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per manager, for the day and the month to date: clients contacted, offers,
    accepted / declined / postponed, and the orders and revenue of accepted offers
    (a purchase of the item by the client within the window after it)."""
    from recsys.feedback import team_report
    from serving.outcomes import OUTCOMES_STREAM
    from training.experiments import read_log

    found = team_report(
        read_log(outcomes, OUTCOMES_STREAM), _purchases(events, fmt), _day(day), window_days
    )
    typer.echo(json.dumps(found, indent=2) if as_json else _table(found))


def _day(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"date: {text!r} is not a date (YYYY-MM-DD)") from None


def _purchases(source: str, fmt: str) -> pd.DataFrame:
    """The service's event log as the experiment report reads it (``events-log``: a
    file or a Redis stream); a file in another format is the retailer's purchases,
    cleaned as every command cleans them."""
    from serving.stream import DEFAULT_STREAM
    from training.experiments import read_log

    if fmt == "events-log":
        return read_log(source, DEFAULT_STREAM)
    loaded = _events.load(Path(source), fmt, _events.cleaning(None, None))
    return loaded.events.assign(type="purchase")


_HEADINGS = {
    **{"clients_contacted": "clients", "offers": "offers", "accepted": "accepted"},
    **{"declined": "declined", "postponed": "postponed", "orders": "orders"},
    "revenue": "revenue",
}


def _table(found: dict[str, Any]) -> str:
    """One line per manager: each figure as ``day / month``."""
    lines = [f"team report {found['date']} (each figure: the day / the month to date, UTC)"]
    counts = [h for k, h in _HEADINGS.items() if k != "revenue"]
    lines.append(f"{'manager':<20}" + "".join(f"{h:>11}" for h in counts) + f"{'revenue':>24}")
    for name, periods in found["managers"].items():
        day, month = periods["day"], periods["month"]
        cells = "".join(f"{f'{day[k]} / {month[k]}':>11}" for k in _HEADINGS if k != "revenue")
        money = f"{day['revenue']:.2f} / {month['revenue']:.2f}"
        lines.append(f"{name:<20}{cells}{money:>24}")
    if not found["managers"]:
        lines.append("no outcomes or attributed sales this month")
    return "\n".join(lines)
