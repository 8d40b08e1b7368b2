"""Read, clean and summarise an events file: the entry point of every job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data._readers import read_events
from recsys.data.cleaning import CLEANING_STEPS, CleaningConfig, clean_events
from recsys.errors import NothingKeptError

__all__ = ["ImportReport", "LoadedEvents", "combine", "load_events", "mode_by", "summarize"]


@dataclass(frozen=True)
class ImportReport:
    """What the import did: rows read, kept, and dropped by reason."""

    source: str
    format: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "source": self.source,
            "format": self.format,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[str]:
        """One line per cleaning step that removed more than half of the rows read:
        a step tuned for another data set (zero prices of a free catalogue…)."""
        heavy = [n for n, count in self.dropped.items() if 2 * count > self.rows_read]
        return [f"{self._removed(n)}; if that is wrong, {_switch(n)}" for n in heavy]

    def nothing_kept(self) -> str:
        """Why no row is left: the step that removed most, and how to switch it off."""
        if not self.dropped or max(self.dropped.values()) == 0:
            return "no row to import"
        worst = max(self.dropped, key=lambda n: self.dropped[n])
        return f"cleaning kept no row: {self._removed(worst)}; {_switch(worst)}"

    def _removed(self, step: str) -> str:
        what = _DESCRIPTIONS.get(step, step)
        count = self.dropped[step]
        return f"step {step!r} removed {count:,} of {self.rows_read:,} rows ({what})"


_DESCRIPTIONS = {step.name: step.description for step in CLEANING_STEPS}


def _switch(step: str) -> str:
    return f"switch it off with --skip-step {step} (or --set cleaning.{step}=false)"


@dataclass(frozen=True)
class LoadedEvents:
    """Clean canonical events plus the report of how they were obtained."""

    events: pd.DataFrame
    report: ImportReport


def load_events(
    path: str | Path, fmt: str = "canonical", cleaning: CleaningConfig | None = None
) -> LoadedEvents:
    """Read ``path`` in format ``fmt`` and apply the cleaning steps.

    Keeping no row is an error (:class:`NothingKeptError` naming the step that
    removed most), never an empty table that fails later with a vaguer message.
    """
    raw = read_events(path, fmt)
    events, dropped = clean_events(raw, cleaning)
    report = ImportReport(str(path), fmt, len(raw), len(events), dropped)
    if events.empty:
        raise NothingKeptError(report.nothing_kept(), file=str(path))
    return LoadedEvents(events, report)


def combine(first: LoadedEvents, second: LoadedEvents) -> LoadedEvents:
    """Both event tables as one (e.g. history plus the service's event log)."""
    events = pd.concat([first.events, second.events], ignore_index=True)
    for column in events.columns:
        if events[column].dtype == object or str(events[column].dtype) == "str":
            events[column] = events[column].astype("category")
    dropped = dict(first.report.dropped)
    for reason, count in second.report.dropped.items():
        dropped[reason] = dropped.get(reason, 0) + count
    report = ImportReport(
        f"{first.report.source} + {second.report.source}",
        f"{first.report.format} + {second.report.format}",
        first.report.rows_read + second.report.rows_read,
        first.report.rows_kept + second.report.rows_kept,
        dropped,
    )
    return LoadedEvents(events, report)


def mode_by(events: pd.DataFrame, key: str, column: str) -> pd.Series:
    """The most frequent ``column`` value per ``key`` (ties: the smallest value), as strings.

    Vectorised: one count per (key, value), one sort. Empty when ``column`` is absent.
    """
    if column not in events.columns:
        return pd.Series(dtype=str)
    known = events[events[key].notna() & events[column].notna()]
    counts = known.groupby([key, column], observed=True).size().reset_index(name="n")
    counts[key], counts[column] = counts[key].astype(str), counts[column].astype(str)
    top = counts.sort_values([key, "n", column], ascending=[True, False, True])
    return top.drop_duplicates(key).set_index(key)[column]


def summarize(events: pd.DataFrame) -> dict[str, Any]:
    """Counts, date range and client × item density of a canonical events table."""
    known = events["client_id"].notna().to_numpy()
    pairs = events.loc[known, ["client_id", "item_id"]]
    clients = pairs["client_id"].nunique()
    items = pairs["item_id"].nunique()
    cells = len(pairs.drop_duplicates())
    stamps = events["timestamp"]
    return {
        "rows_without_client": int((~known).sum()),
        "clients": int(clients),
        "items": int(events["item_id"].nunique()),
        "matrix_items": int(items),
        "orders": int(events["order_id"].nunique()),
        "date_min": None if events.empty else stamps.min().isoformat(),
        "date_max": None if events.empty else stamps.max().isoformat(),
        "density": float(cells / (clients * items)) if clients and items else 0.0,
        "interactions": int(cells),
        "mean_order_size": float(np.round(len(events) / max(events["order_id"].nunique(), 1), 3)),
    }
