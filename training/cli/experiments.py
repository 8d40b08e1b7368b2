"""``recsys experiments report`` and ``recsys experiments simulate``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli import _events
from training.cli._errors import handle_errors
from training.cli._options import EventsOption, FormatOption

app = typer.Typer(
    help="Online experiments: reports and the replay simulator.", no_args_is_help=True
)

WindowOption = Annotated[
    float, typer.Option("--window-days", help="Attribution window after a list was shown.")
]


@app.command()
@handle_errors
def report(
    experiments: Annotated[
        Path, typer.Option("--experiments", envvar="RECSYS_EXPERIMENTS_PATH", help="YAML file.")
    ],
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Name [default: the latest].")
    ] = None,
    impressions: Annotated[
        str, typer.Option(help="Impression log: file or redis://…")
    ] = "artifacts/impressions.jsonl",
    events: Annotated[str, typer.Option(help="Event log: file or redis://…")] = (
        "artifacts/events.jsonl"
    ),
    outcomes: Annotated[str, typer.Option(help="Outcome log: file or redis://…")] = (
        "artifacts/outcomes.jsonl"
    ),
    window_days: WindowOption = 7.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per arm: lists served, CTR, conversion, revenue per 1,000 lists with 95 %
    intervals, the difference to the control with its interval and p-value, the
    sample-ratio-mismatch check; per source: shown, clicks, conversions, revenue.
    Logged to MLflow as one run per arm."""
    from recsys.feedback import experiment_report
    from serving.outcomes import OUTCOMES_STREAM
    from serving.stream import DEFAULT_STREAM
    from training import experiments as jobs
    from training import tracking
    from training.settings import TrainingSettings

    chosen = jobs.load_experiment(experiments, experiment)
    found = experiment_report(
        jobs.read_impressions(impressions),
        jobs.read_log(events, DEFAULT_STREAM),
        jobs.read_log(outcomes, OUTCOMES_STREAM),
        chosen,
        timedelta(days=window_days),
    )
    settings = TrainingSettings()
    for name, figures in found["arms"].items():
        tags = {"experiment": chosen.name, "arm": name}
        with tracking.tracked_run("experiment-arm", settings, {"window_days": window_days}, tags):
            tracking.log_metrics(_numbers(figures))
    typer.echo(json.dumps(found, indent=2, default=str) if as_json else _table(found))


@app.command()
@handle_errors
def simulate(
    events: EventsOption,
    cutoff: Annotated[str, typer.Option("--cutoff", help="Train before, replay after.")],
    fmt: FormatOption = "canonical",
    arms: Annotated[str, typer.Option(help="Arms: hybrid or a model name each.")] = (
        "popular,hybrid"
    ),
    window_days: WindowOption = 7.0,
    clients: Annotated[
        str,
        typer.Option(
            help="known: clients with purchases before the cut-off (as offline "
            "evaluation); all: new clients too."
        ),
    ] = "known",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay the period after --cutoff through the real service: each client active
    then gets its arm's list just before its first visit; buying a listed item within
    the window is a conversion. Prints the report of the arms."""
    from recsys.errors import ConfigError
    from training.experiments import summarise
    from training.replay import simulate as replay

    if clients not in ("known", "all"):
        raise ConfigError(f"clients: {clients!r} is not known or all")
    loaded = _events.load(events, fmt, _events.cleaning(None, None))
    window = timedelta(days=window_days)
    found = replay(loaded, cutoff, arms.split(","), window, known_only=clients == "known")
    summary = summarise(found)
    typer.echo(json.dumps(summary, indent=2) if as_json else _table(found))


def _numbers(figures: dict[str, Any]) -> dict[str, Any]:
    keep = ("lists", "clients", "ctr", "ctr_ci95", "conversion", "conversion_ci95")
    keep += ("revenue_per_1000_lists", "revenue_per_1000_lists_ci95")
    return {k: figures[k] for k in keep}


def _table(found: dict[str, Any]) -> str:
    lines = [f"experiment {found['experiment']} (control: {found['control']})"]
    lines.append(
        f"{'arm':<14}{'lists':>8}  {'CTR [95% CI]':<24}{'conversion [95% CI]':<27}revenue/1k"
    )
    for name, a in found["arms"].items():
        ctr = f"{a['ctr']:.3f} [{a['ctr_ci95'][0]:.3f}, {a['ctr_ci95'][1]:.3f}]"
        conv = (
            f"{a['conversion']:.4f} [{a['conversion_ci95'][0]:.4f}, {a['conversion_ci95'][1]:.4f}]"
        )
        rev = a["revenue_per_1000_lists"]
        lines.append(f"{name:<14}{a['lists']:>8}  {ctr:<24}{conv:<27}{rev:.1f}")
        versus = a.get("vs_control", {}).get("conversion")
        if versus and versus["difference"] is not None:
            low, high = versus["ci95"]
            lines.append(
                f"{'':<14}conversion − control {versus['difference']:+.4f} "
                f"[{low:+.4f}, {high:+.4f}], p = {versus['p_value']:.2g}"
            )
    srm = found["srm"]
    if srm["p_value"] is not None:
        flag = "MISMATCH" if srm["mismatch"] else "ok"
        lines.append(f"sample ratio: clients {srm['clients']}, p = {srm['p_value']:.3g} ({flag})")
    return "\n".join(lines)
