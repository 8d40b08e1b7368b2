"""``recsys rules``: mine association rules; ``recsys rules preview``: analyst rules' reach."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from recsys.errors import ConfigError
from training.cli import _engine, _events
from training.cli._errors import handle_errors
from training.cli._options import CleaningSetOption, FormatOption, SkipStepOption

app = typer.Typer(help="Association rules and analyst cross-sell rules.")


@app.callback(invoke_without_command=True)
@handle_errors
def rules(
    ctx: typer.Context,
    events: Annotated[
        str | None,
        typer.Option("--events", help="Events file (with --engine spark: also a folder or URI)."),
    ] = None,
    fmt: FormatOption = "canonical",
    min_support: Annotated[float, typer.Option(help="Minimum support (share of baskets).")] = 0.01,
    min_confidence: Annotated[float, typer.Option(help="Minimum confidence.")] = 0.2,
    min_leverage: Annotated[float | None, typer.Option(help="Minimum leverage.")] = None,
    min_lift: Annotated[float | None, typer.Option(help="Minimum lift.")] = None,
    max_len: Annotated[int | None, typer.Option(help="Largest itemset size.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="rules.csv or rules.parquet.")] = None,
    overrides: CleaningSetOption = None,
    skip: SkipStepOption = None,
    engine: _engine.EngineOption = "local",
    master: _engine.SparkMasterOption = "local[*]",
    progress: _engine.SparkProgressOption = False,
) -> None:
    """Mine rules from baskets (orders) and export them, one per row."""
    from recsys.rules import RulesConfig, build_baskets, mine_rules, rules_table, write_rules

    if ctx.invoked_subcommand is not None:
        return
    if events is None or out is None:
        raise typer.BadParameter("--events and --out are required to mine rules")
    config = RulesConfig(
        min_support=min_support,
        min_confidence=min_confidence,
        min_leverage=min_leverage,
        min_lift=min_lift,
        max_len=max_len,
    )
    cleaning = _events.cleaning(overrides, skip)
    spark = _engine.spark(engine, master, progress)
    clock = time.perf_counter()
    if spark is not None:
        from training.spark.rules import mine_rules as spark_rules

        found = _engine.load_spark(spark, events, fmt, cleaning)
        loaded = time.perf_counter()
        mined, items, count = spark_rules(found.frame, config)
    else:
        baskets = build_baskets(_events.load(_engine.local_path(events), fmt, cleaning).events)
        loaded = time.perf_counter()
        mined, items, count = mine_rules(baskets, config), baskets.items, baskets.count
    mined_at = time.perf_counter()
    write_rules(rules_table(mined, items), out)
    typer.echo(
        f"{count:,} baskets × {len(items):,} items "
        f"(import {loaded - clock:.2f}s); {len(mined):,} rules mined in {mined_at - loaded:.2f}s "
        f"({engine}); written to {out}"
    )


@app.command()
@handle_errors
def preview(
    cross_sell: Annotated[Path, typer.Option("--cross-sell", help="Analyst rules (YAML/JSON).")],
    events: Annotated[Path, typer.Option("--events", help="Events file.")],
    fmt: FormatOption = "canonical",
    on: Annotated[
        str | None, typer.Option("--date", help="Day to check validity (today, UTC).")
    ] = None,
    overrides: CleaningSetOption = None,
    skip: SkipStepOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How many clients each analyst rule would reach, and with which offers."""
    from recsys.rules.cross_sell import load_cross_sell
    from recsys.rules.reach import preview as preview_reach

    rules = load_cross_sell(cross_sell)
    day = _day(on)
    loaded = _events.load(events, fmt, _events.cleaning(overrides, skip))
    report = preview_reach(rules, loaded.events, day)
    if as_json:
        typer.echo(
            json.dumps(
                {"version": rules.version, "date": day.isoformat(), "rules": report}, indent=2
            )
        )
        return
    typer.echo(f"cross-sell rules version {rules.version}, as of {day}")
    for row in report:
        state = "active" if row["active"] else "inactive"
        offers = ", ".join(f"{item} → {n:,}" for item, n in row["offers"].items())
        typer.echo(f"{row['rule']:<24} {state:<8} {row['clients']:>7,} clients   {offers}")


def _day(text: str | None) -> date:
    if text is None:  # UTC, as the service's day: not the machine's local date
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"date: {text!r} is not YYYY-MM-DD") from None
