"""``recsys evaluate``, ``recsys train`` and ``recsys promote``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from recsys.errors import ConfigError
from training.cli import _engine, _events
from training.cli._errors import handle_errors
from training.cli._options import (
    DEFAULT_TOMBSTONES,
    FormatOption,
    SetOption,
    SkipStepOption,
    TombstonesOption,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.bundle import EventsPosition
    from recsys.data import CleaningConfig, LoadedEvents

ModelsOption = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="Comma-separated: popular,popular_country,als,bpr,itemknn,ease,rp3beta,forward,"
        "rules,hybrid "
        "(train's default: what the serving blend weighs).",
    ),
]


def _names(models: str | None) -> list[str] | None:
    return [m.strip() for m in models.split(",") if m.strip()] if models else None


@handle_errors
def evaluate(
    events: _engine.SourceOption,
    fmt: FormatOption = "canonical",
    split: Annotated[Literal["time", "random"], typer.Option(help="time or random.")] = "time",
    cutoff: Annotated[str | None, typer.Option(help="Time split date, YYYY-MM-DD.")] = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="Share of time/items held out.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random split.")] = 42,
    k: Annotated[int, typer.Option(min=1, max=1000, help="Cut-off rank.")] = 10,
    models: ModelsOption = None,
    overrides: SetOption = None,
    skip: SkipStepOption = None,
    include_seen: Annotated[
        bool, typer.Option(help="Also recommend already-bought items.")
    ] = False,
    known_items_only: Annotated[
        bool,
        typer.Option(
            help="Count as relevant only items the train part knows (test-only items are "
            "otherwise misses no model can avoid)."
        ),
    ] = False,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare", help="A,B: paired difference A − B per metric, interval and p-value."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    engine: _engine.EngineOption = "local",
    master: _engine.SparkMasterOption = "local[*]",
    progress: _engine.SparkProgressOption = False,
    audiences: Annotated[
        bool,
        typer.Option(
            "--audiences",
            help="Also measure item audiences against each item's buyers in the test part "
            "(docs/how-to/audiences.md).",
        ),
    ] = False,
    audience_k: Annotated[int, typer.Option(min=1, help="Audience size measured.")] = 100,
    audience_items: Annotated[
        int, typer.Option(min=1, help="Items measured: the most bought in the test part.")
    ] = 200,
) -> None:
    """Train each model on the train part; metrics on clients present in both parts,
    with 95 % bootstrap intervals over clients (--audiences: item audiences too, with
    intervals over items)."""
    from training import jobs, tracking
    from training import report as report_text
    from training.settings import TrainingSettings

    tree = jobs.parse_overrides(overrides or [])
    chosen = jobs.choose_models(_names(models), tree)
    config = jobs.matrix_config(tree)
    spark = _engine.spark(engine, master, progress)
    loaded = _load(events, fmt, jobs.cleaning_config(tree, skip), spark)
    if spark is not None:
        from training.spark.als import on_spark

        chosen = on_spark(chosen, spark)
    parts = jobs.make_split(loaded.events, split, cutoff, test_fraction, seed)
    blends = jobs.choose_blends(_names(models), tree)
    mining = jobs.rules_config(tree)
    pair = jobs.compare_pair(compare)
    report = jobs.evaluate(
        parts, chosen, k, config, not include_seen, blends, mining, pair, known_items_only
    )
    if audiences:
        from training.audiences import audiences_on

        report.update(audiences_on(loaded, parts, tree, audience_k, audience_items))
    params = {
        "matrix": config.model_dump(),
        "models": {n: m.config.model_dump() for n, m in chosen.items()},
        "blends": {n: b.model_dump() for n, b in blends.items()},
        "rules": mining.model_dump(),
        "split": parts.description,
        "k": k,
        "data": loaded.report.as_dict(),
        "engine": engine,
    }
    tags = {"models": ",".join([*chosen, *blends]), "engine": engine}
    with tracking.tracked_run("evaluate", TrainingSettings(), params, tags) as run:
        tracking.log_metrics(report["models"])
        if "compare" in report:  # compare.<metric>.difference, .ci_low/_high, .p_value
            pair = report["compare"]
            tracking.log_metrics({"compare": {m: v for m, v in pair.items() if m not in "ab"}})
        if audiences:
            tracking.log_metrics({"audiences": report["audiences"]})
        report["mlflow_run_id"] = run.info.run_id
    report["engine"] = engine
    typer.echo(json.dumps(report, indent=2) if as_json else report_text.as_table(report, k))
    if audiences and not as_json:
        from training.audiences import audience_lines

        typer.echo("\n".join(audience_lines(report)))


@handle_errors
def train(
    events: _engine.SourceOption,
    out: Annotated[Path, typer.Option("--out", help="Directory that receives the bundle.")],
    fmt: FormatOption = "canonical",
    models: ModelsOption = None,
    overrides: SetOption = None,
    skip: SkipStepOption = None,
    extra_events: Annotated[
        str | None,
        typer.Option(
            "--extra-events",
            help="The service's events to add: its log file (JSON lines, or an export), "
            "or redis://… to read the stream every replica writes.",
        ),
    ] = None,
    events_stream: Annotated[
        str | None,
        typer.Option(
            envvar="RECSYS_EVENTS_STREAM",
            help="Stream read by --extra-events redis://…",
        ),
    ] = None,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
    engine: _engine.EngineOption = "local",
    master: _engine.SparkMasterOption = "local[*]",
    progress: _engine.SparkProgressOption = False,
) -> None:
    """Fit the models on all events; write a versioned bundle; register it in MLflow.

    Without --models: what the serving blend weighs (and popularity); name others
    (e.g. --models popular,ease,als) to serve a wider blend.
    """
    from recsys.data import combine
    from training import jobs, tracking
    from training.settings import TrainingSettings

    tree = jobs.parse_overrides(overrides or [])
    chosen = jobs.serving_models(_names(models), tree)
    cleaning = _events.forgetting(jobs.cleaning_config(tree, skip), tombstones)
    spark = _engine.spark(engine, master, progress)
    if spark is not None:
        if extra_events is not None:
            raise ConfigError("--extra-events: not with --engine spark; list both sources")
        from training.spark.jobs import train as spark_train

        found = _engine.load_spark(spark, events, fmt, cleaning)
        bundle = spark_train(found, chosen, jobs.matrix_config(tree), jobs.rules_config(tree))
    else:
        loaded = _events.load(_engine.local_path(events), fmt, cleaning)
        position: EventsPosition | None = None
        if extra_events is not None:
            extra, position = _events.extra_events_file(extra_events, out, events_stream)
            loaded = combine(loaded, _events.load(extra, "events-log", cleaning))
        bundle = jobs.train(loaded, chosen, jobs.matrix_config(tree), jobs.rules_config(tree))
        # created_at is stamped now, at the end: replicas follow from where the
        # events read end, so purchases accepted while it trained are applied too.
        bundle.events_position = position
    target = bundle.save(out / bundle.version)
    settings = TrainingSettings()
    tags = {"models": ",".join(chosen), "bundle_version": bundle.version, "engine": engine}
    with tracking.tracked_run("train", settings, bundle.manifest(), tags) as run:
        tracking.log_metrics({"clients": len(bundle.data.clients), "items": len(bundle.data.items)})
        version = tracking.publish_bundle(target, run, settings)
    typer.echo(
        f"bundle {bundle.version} written to {target}; registered as "
        f"{settings.registered_model} version {version} (run {run.info.run_id})"
    )


@handle_errors
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to serve.")],
) -> None:
    """Mark one registered bundle version as the one serving loads (MLflow alias)."""
    from training import tracking
    from training.cli.access import record_action
    from training.settings import TrainingSettings

    result = tracking.promote(version, TrainingSettings())
    try:
        record_action("model.promote", f"{result['model']}@{result['alias']}", {"version": version})
    except Exception as error:  # promoted already: say the log missed it, do not undo
        typer.echo(f"warning: promoted, but the audit log was not written: {error}", err=True)
    typer.echo(f"{result['model']}@{result['alias']} → version {result['version']}")


def _load(
    source: str, fmt: str, config: CleaningConfig, spark: SparkSession | None
) -> LoadedEvents:
    """The cleaned events on this machine, read by Spark when given a session (they
    arrive through Arrow: evaluation's splits need every event)."""
    if spark is None:
        return _events.load(_engine.local_path(source), fmt, config)
    from training.spark.jobs import to_local

    return to_local(_engine.load_spark(spark, source, fmt, config))
