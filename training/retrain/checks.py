"""Data checks: what the candidate was trained on must look like a history that grew.

* rows kept: the history only grows, so fewer rows before the deleted-clients step
  (rows kept plus the rows of deleted clients) than production's training had means a
  truncated or lost input; clients deleted since production shrink the rows kept, not
  this figure. ``gate.min_rows_ratio`` below 1 lets a deliberate rotation through;
* events per day: the rate of known clients' events in the 7 days before ``as_of``
  (the run's time) against the median of the 7-day windows before them (a day of
  half-empty events, an export that stopped); no event at all in those 7 days fails;
* cleaning: a step removing at least half of one input's rows (a duplicated file,
  a changed export), or an input whose rows kept are mostly duplicates of an earlier
  input's (a file imported twice across inputs); views and deletions are expected to
  remove many and are not counted;
* clients and items: a collapse against production's counts.
"""

from __future__ import annotations

from statistics import median

import pandas as pd

from training.retrain.gate import Check, GateConfig
from training.retrain.production import Production
from training.retrain.sources import ACROSS_INPUTS, Source, Sources

__all__ = ["BEFORE_DELETIONS", "EXPECTED_STEPS", "daily_rates", "data_checks", "facts"]

#: Steps that may remove most of an input on purpose: the service logs views and
#: clicks beside purchases, and a deleted client's rows must go whatever their share.
EXPECTED_STEPS = frozenset({"non_purchase", "deleted_clients"})
#: The manifest metric the rows check compares: rows kept + rows of deleted clients.
BEFORE_DELETIONS = "data.rows_before_deletions"
_WEEK = pd.Timedelta(days=7)


def facts(sources: Sources) -> dict[str, float]:
    """The counts a bundle records about its data (manifest metrics ``data.*``)."""
    events, report = sources.combined.events, sources.combined.report
    counts = {
        "data.rows_read": report.rows_read,
        "data.rows_kept": report.rows_kept,
        BEFORE_DELETIONS: report.rows_kept + report.dropped.get("deleted_clients", 0),
        "data.clients": events["client_id"].nunique(),
        "data.items": events["item_id"].nunique(),
    }
    counts.update({f"data.dropped.{s}": n for s, n in report.dropped.items()})
    return {k: float(v) for k, v in counts.items()}


def data_checks(
    sources: Sources, production: Production | None, config: GateConfig, as_of: pd.Timestamp
) -> list[Check]:
    """Every data check, in the order the module lists them; ``as_of``: the run's time
    (UTC, naive like the events' timestamps)."""
    counts = facts(sources)
    return [
        _rows_kept(counts, production, config),
        _daily_rate(_with_client(sources.combined.events)["timestamp"], config, as_of),
        *(_cleaning(p, config) for p in sources.parts),
        _collapse("clients", counts["data.clients"], production, config),
        _collapse("items", counts["data.items"], production, config),
    ]


def _with_client(events: pd.DataFrame) -> pd.DataFrame:
    """The events of known clients: the service logs no guest purchase, so a history
    with guest lines and a newest week from the service's log compare only these."""
    return events.loc[events["client_id"].notna().to_numpy()]


def _rows_kept(
    counts: dict[str, float], production: Production | None, config: GateConfig
) -> Check:
    """Rows before the deleted-clients step against production's same figure; a
    production bundle that did not record it: rows kept against rows kept."""
    if production is None:
        return Check("rows kept", None, f"{counts['data.rows_kept']:,.0f}; no production version")
    kept, deleted = counts["data.rows_kept"], counts.get("data.dropped.deleted_clients", 0.0)
    before = _before_deletions(production)
    if before is not None:
        mine = kept + deleted
        detail = (
            f"{mine:,.0f} before deletions ({kept:,.0f} kept + {deleted:,.0f} of deleted "
            f"clients) against production's {before:,.0f}"
        )
    else:
        before, mine = production.count("data.rows_kept"), kept
        if before is None:
            return Check("rows kept", None, f"{kept:,.0f}; production recorded no count")
        detail = f"{kept:,.0f} against production's {before:,.0f} (it recorded no deletions)"
    floor = config.min_rows_ratio * before
    if config.min_rows_ratio != 1:
        detail += f", floor {floor:,.0f} ({config.min_rows_ratio:g} × production's)"
    return Check("rows kept", mine >= floor, detail + ("" if mine >= floor else " (fewer)"))


def _before_deletions(production: Production) -> float | None:
    """Production's rows before the deleted-clients step: recorded, or its rows kept
    plus its deleted clients' rows when it recorded both (an earlier retrain's bundle)."""
    recorded = production.count(BEFORE_DELETIONS)
    if recorded is not None:
        return recorded
    kept, deleted = (
        production.count("data.rows_kept"),
        production.count("data.dropped.deleted_clients"),
    )
    return None if kept is None or deleted is None else kept + deleted


def daily_rates(stamps: pd.Series, weeks: int, as_of: pd.Timestamp) -> tuple[float, list[float]]:
    """Events per day of the 7 days before ``as_of`` and of each of the ``weeks``
    7-day windows before them that the data covers entirely (from its first day)."""
    end = pd.Timestamp(as_of)
    start = pd.Timestamp(stamps.min()).normalize()

    def rate(back: int) -> float:
        high = end - back * _WEEK
        return float(((stamps >= high - _WEEK) & (stamps < high)).sum()) / 7

    covered = [b for b in range(1, weeks + 1) if end - (b + 1) * _WEEK >= start]
    return rate(0), [rate(b) for b in covered]


def _daily_rate(stamps: pd.Series, config: GateConfig, as_of: pd.Timestamp) -> Check:
    newest, before = daily_rates(stamps, config.weeks, as_of)
    if newest == 0:
        last = "none" if stamps.empty else f"{pd.Timestamp(stamps.max()):%Y-%m-%d %H:%M}"
        return Check(
            "events per day",
            False,
            f"no event of a known client in the 7 days before {as_of:%Y-%m-%d %H:%M} UTC "
            f"(the newest is from {last}): the feed stopped, or --as-of is wrong",
        )
    later = int((stamps >= as_of).sum())
    after = f"; {later:,} events after --as-of not counted" if later else ""
    if not before:
        return Check("events per day", None, f"{newest:.1f}; no earlier full week{after}")
    typical = median(before)
    ratio = newest / typical if typical else float("inf")
    detail = (
        f"the 7 days before {as_of:%Y-%m-%d %H:%M} {newest:.1f}/day = {ratio:.2f} × the median "
        f"{typical:.1f}/day of the {len(before)} weeks before (floor {config.min_daily_ratio:g})"
    )
    return Check("events per day", ratio >= config.min_daily_ratio, detail + after)


def _cleaning(part: Source, config: GateConfig) -> Check:
    """A step removing a heavy share of the rows read, or rows kept that are mostly
    duplicates of an earlier input's."""
    report, limit = part.loaded.report, config.heavy_step_share
    counted = {s: n for s, n in report.dropped.items() if s not in EXPECTED_STEPS}
    shares = {s: n / report.rows_read for s, n in counted.items() if report.rows_read}
    heavy = {s: v for s, v in shares.items() if v >= limit}
    problems = []
    if heavy:
        worst = max(heavy, key=lambda s: heavy[s])
        problems.append(
            f"step {worst!r} removed {counted[worst]:,} of {report.rows_read:,} rows "
            f"({heavy[worst]:.0%}; limit {limit:.0%})"
        )
    copies = sum(part.duplicates_of.values())
    copied = copies / report.rows_kept if report.rows_kept else 0.0
    if copied >= limit:
        of = ", ".join(f"{n:,} in {name}" for name, n in part.duplicates_of.items())
        problems.append(
            f"{copies:,} of its {report.rows_kept:,} rows kept ({copied:.0%}; limit "
            f"{limit:.0%}) are already in an earlier input ({of}): dropped as "
            f"{ACROSS_INPUTS}"
        )
    if problems:
        return Check(f"cleaning: {part.name}", False, "; ".join(problems))
    top = max(shares.values(), default=0.0)
    also = f"; {copies:,} rows already in an earlier input dropped" if copies else ""
    return Check(
        f"cleaning: {part.name}",
        True,
        f"no step removed ≥ {limit:.0%} (largest {top:.1%}) of {report.rows_read:,} rows{also}",
    )


def _collapse(what: str, count: float, production: Production | None, config: GateConfig) -> Check:
    before = None if production is None else production.manifest.get(what)
    if not before:
        return Check(what, None, f"{count:,.0f}; no production version to compare with")
    floor = config.collapse_ratio * float(before)
    detail = f"{count:,.0f} against production's {float(before):,.0f} (floor {floor:,.0f})"
    return Check(what, count >= floor, detail)
