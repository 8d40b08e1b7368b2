"""``recsys retrain``: the scheduled job — retrain, backtest, gate, promote only if it passes.

Exit codes: 0 promoted (or ``--dry-run``), 6 rejected (production kept; the candidate
registered with ``retrain.decision=rejected`` and its reasons, its bundle under
``OUT/candidates/``), and the usual 3/4/5 for bad data, bad options and failures
(production untouched either way).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys.errors import ConfigError
from training.cli._errors import handle_errors
from training.cli._options import (
    DEFAULT_TOMBSTONES,
    EventsOption,
    FormatOption,
    SetOption,
    SkipStepOption,
    TombstonesOption,
)

if TYPE_CHECKING:
    from training.retrain.job import Outcome

__all__ = ["REJECTED", "retrain"]

#: The exit code of a candidate the gate refused.
REJECTED = 6

ExtraOption = Annotated[
    list[str] | None,
    typer.Option(
        "--extra-events",
        help="The service's events since the history ends (repeatable): its log file "
        "(JSON lines), an export, or redis://… (the stream; archived and trimmed after a "
        "promotion, read back from --archive).",
    ),
]


@handle_errors
def retrain(
    events: EventsOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory of bundles (CURRENT's); candidates not promoted go under "
            "OUT/candidates.",
        ),
    ],
    fmt: FormatOption = "canonical",
    extra_events: ExtraOption = None,
    events_stream: Annotated[
        str | None,
        typer.Option(envvar="RECSYS_EVENTS_STREAM", help="Stream read by --extra-events redis://…"),
    ] = None,
    holdout_days: Annotated[
        int, typer.Option(min=1, help="Newest days held out to backtest both versions on.")
    ] = 14,
    overrides: SetOption = None,
    skip: SkipStepOption = None,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
    keep: Annotated[
        int,
        typer.Option(
            min=1,
            help="Bundles kept besides every one CURRENT or an alias names (retention); "
            "as many candidates are kept under OUT/candidates.",
        ),
    ] = 5,
    trim: Annotated[
        bool, typer.Option(help="After a promotion, archive and trim the stream entries read.")
    ] = True,
    archive: Annotated[
        Path | None,
        typer.Option(help="Where trimmed stream events are kept [default: OUT/events-archive]."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The run's time, ISO date or date-time (UTC unless an offset is given): "
            "the events-per-day check's newest 7 days end there [default: now].",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report; promote nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate fails (recorded).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train a candidate with production's configuration on the history plus the
    service's events, backtest both on the newest --holdout-days, and promote it only
    if the gate passes (--set gate.ndcg_tolerance=…, see docs: Keep models fresh)."""
    from training import jobs
    from training.cli import _events
    from training.retrain.job import Request
    from training.retrain.job import retrain as run
    from training.settings import TrainingSettings

    if dry_run and force:
        raise ConfigError("--dry-run and --force: choose one")
    tree = jobs.parse_overrides(overrides or [])
    if "blend" in tree:
        raise ConfigError("--set blend.*: the blend is the service's setting, not the bundle's")
    cleaning = _events.forgetting(jobs.cleaning_config(tree, skip), tombstones)
    request = Request(
        events,
        fmt,
        out,
        list(extra_events or []),
        holdout_days,
        tree,
        cleaning,
        dry_run,
        force,
        keep,
        trim,
        archive,
        events_stream,
        _moment(as_of),
    )
    outcome = run(request, TrainingSettings())
    typer.echo(json.dumps(outcome.as_json(), indent=2) if as_json else describe(outcome))
    for line in outcome.warnings:
        typer.echo(f"warning: {line}", err=True)
    if outcome.decision == "rejected":
        raise typer.Exit(REJECTED)


def _moment(text: str | None) -> datetime | None:
    """``--as-of`` read; a value that is no ISO date or date-time is a ConfigError."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--as-of: {text!r} is not an ISO date or date-time (2010-12-10, 2010-12-10T06:00Z)"
        ) from None


def describe(outcome: Outcome) -> str:
    """The outcome for a person: both sides, every check, what changed, the decision."""
    return "\n".join([*_sides(outcome), *_checks(outcome), *_changes(outcome), *_decision(outcome)])


def _sides(outcome: Outcome) -> list[str]:
    test, found = outcome.backtest, outcome.as_json()
    lines = [
        f"candidate: version {outcome.version} ({outcome.bundle}), {outcome.rows_kept:,} rows kept",
        f"backtest: the days from {test.cutoff[:10]}, {test.clients:,} clients",
        _figures("candidate", test.candidate.ndcg, test.candidate.coverage),
    ]
    if test.production is None or outcome.production is None:
        return lines
    low, high = test.interval
    shared = " (same configuration: one fit for both)" if test.shared_fit else ""
    return [
        f"production: version {found['production']['version']} ({outcome.production.directory})",
        *lines,
        _figures("production", test.production.ndcg, test.production.coverage),
        f"  paired difference {test.difference:+.4f}, 95 % interval "
        f"[{low:+.4f}, {high:+.4f}]{shared}",
    ]


def _figures(side: str, ndcg: float, coverage: float) -> str:
    return f"  {side:<11}ndcg@10 {ndcg:.4f}  coverage@10 {coverage:.4f}"


def _checks(outcome: Outcome) -> list[str]:
    return ["checks:", *(f"  {c.status:<8}{c.name}: {c.detail}" for c in outcome.checks)]


def _changes(outcome: Outcome) -> list[str]:
    diff = outcome.diff
    if diff is None:
        return []
    c, i, r = diff["clients"], diff["items"], diff["rules"]
    return [
        f"changed from production: clients +{c['added']:,} −{c['removed']:,}; items "
        f"+{i['added']:,} −{i['removed']:,}; rules +{r['added']:,} −{r['removed']:,} "
        f"~{r['changed']:,}; top-10 changed for {diff['lists_changed_share']:.0%} of "
        f"{diff['sampled_clients']} sampled clients (mean RBO {diff['rank_biased_overlap']:.3f})"
    ]


def _decision(outcome: Outcome) -> list[str]:
    lines = [f"decision: {outcome.decision}"]
    if outcome.forced_by is not None and outcome.reasons:
        lines[0] += f" (forced by {outcome.forced_by} despite the failed checks)"
    if outcome.decision == "rejected":
        lines[0] += f"; production kept (exit {REJECTED})"
    if outcome.removed:
        lines.append(
            f"retention removed {len(outcome.removed)} bundle(s): "
            + ", ".join(p.name for p in outcome.removed)
        )
    return lines
