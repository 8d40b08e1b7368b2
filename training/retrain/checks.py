"""Data checks: what the candidate was trained on must look like a history that grew.

* rows kept: the history only grows, so fewer rows kept than production's training
  kept (its manifest's ``data.rows_kept``) means a truncated or lost input;
* events per day: the newest 7 calendar days' rate of known clients' events against
  the median of the 7-day windows before them (a day of half-empty events, an export
  that stopped);
* cleaning: a step removing at least half of one input's rows (a duplicated file,
  a changed export); views and deletions are expected to remove many and are not
  counted;
* clients and items: a collapse against production's counts.
"""

from __future__ import annotations

from statistics import median

import pandas as pd

from recsys.data import ImportReport
from training.retrain.gate import Check, GateConfig
from training.retrain.production import Production
from training.retrain.sources import Sources

__all__ = ["EXPECTED_STEPS", "daily_rates", "data_checks", "facts"]

#: Steps that may remove most of an input on purpose: the service logs views and
#: clicks beside purchases, and a deleted client's rows must go whatever their share.
EXPECTED_STEPS = frozenset({"non_purchase", "deleted_clients"})
_WEEK = pd.Timedelta(days=7)


def facts(sources: Sources) -> dict[str, float]:
    """The counts a bundle records about its data (manifest metrics ``data.*``)."""
    events, report = sources.combined.events, sources.combined.report
    counts = {
        "data.rows_read": report.rows_read,
        "data.rows_kept": report.rows_kept,
        "data.clients": events["client_id"].nunique(),
        "data.items": events["item_id"].nunique(),
    }
    counts.update({f"data.dropped.{s}": n for s, n in report.dropped.items()})
    return {k: float(v) for k, v in counts.items()}


def data_checks(sources: Sources, production: Production | None, config: GateConfig) -> list[Check]:
    """Every data check, in the order the module lists them."""
    counts = facts(sources)
    return [
        _rows_kept(counts["data.rows_kept"], production),
        _daily_rate(_with_client(sources.combined.events)["timestamp"], config),
        *(_cleaning(p.name, p.loaded.report, config) for p in sources.parts),
        _collapse("clients", counts["data.clients"], production, config),
        _collapse("items", counts["data.items"], production, config),
    ]


def _with_client(events: pd.DataFrame) -> pd.DataFrame:
    """The events of known clients: the service logs no guest purchase, so a history
    with guest lines and a newest week from the service's log compare only these."""
    return events.loc[events["client_id"].notna().to_numpy()]


def _rows_kept(kept: float, production: Production | None) -> Check:
    before = None if production is None else production.count("data.rows_kept")
    if before is None:
        return Check("rows kept", None, f"{kept:,.0f}; production recorded no count")
    detail = f"{kept:,.0f} against production's {before:,.0f}"
    return Check("rows kept", kept >= before, detail + ("" if kept >= before else " (fewer)"))


def daily_rates(stamps: pd.Series, weeks: int) -> tuple[float, list[float]]:
    """Events per day of the newest 7 calendar days (the newest event's day and the
    six before) and of each of the ``weeks`` 7-day windows before them that the data
    covers entirely."""
    end = pd.Timestamp(stamps.max()).normalize() + pd.Timedelta(days=1)
    start = pd.Timestamp(stamps.min())

    def rate(back: int) -> float:
        high = end - back * _WEEK
        return float(((stamps >= high - _WEEK) & (stamps < high)).sum()) / 7

    covered = [b for b in range(1, weeks + 1) if end - (b + 1) * _WEEK >= start.normalize()]
    return rate(0), [rate(b) for b in covered]


def _daily_rate(stamps: pd.Series, config: GateConfig) -> Check:
    newest, before = daily_rates(stamps, config.weeks)
    if not before:
        return Check("events per day", None, f"{newest:.1f}; no earlier full week to compare")
    typical = median(before)
    ratio = newest / typical if typical else float("inf")
    detail = (
        f"newest 7 days {newest:.1f}/day = {ratio:.2f} × the median {typical:.1f}/day of the "
        f"{len(before)} weeks before (floor {config.min_daily_ratio:g})"
    )
    return Check("events per day", ratio >= config.min_daily_ratio, detail)


def _cleaning(name: str, report: ImportReport, config: GateConfig) -> Check:
    counted = {s: n for s, n in report.dropped.items() if s not in EXPECTED_STEPS}
    shares = {s: n / report.rows_read for s, n in counted.items() if report.rows_read}
    heavy = {s: v for s, v in shares.items() if v >= config.heavy_step_share}
    if heavy:
        worst = max(heavy, key=lambda s: heavy[s])
        detail = (
            f"step {worst!r} removed {counted[worst]:,} of {report.rows_read:,} rows "
            f"({heavy[worst]:.0%}; limit {config.heavy_step_share:.0%})"
        )
        return Check(f"cleaning: {name}", False, detail)
    top = max(shares.values(), default=0.0)
    return Check(
        f"cleaning: {name}",
        True,
        f"no step removed ≥ {config.heavy_step_share:.0%} "
        f"(largest {top:.1%}) of {report.rows_read:,} rows",
    )


def _collapse(what: str, count: float, production: Production | None, config: GateConfig) -> Check:
    before = None if production is None else production.manifest.get(what)
    if not before:
        return Check(what, None, f"{count:,.0f}; no production version to compare with")
    floor = config.collapse_ratio * float(before)
    detail = f"{count:,.0f} against production's {float(before):,.0f} (floor {floor:,.0f})"
    return Check(what, count >= floor, detail)
