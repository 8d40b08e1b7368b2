"""The ``recsys`` command: one subcommand per job."""

from __future__ import annotations

import typer

from training.cli import (
    access,
    audience,
    campaign,
    catalogue,
    data,
    events,
    experiments,
    features,
    models,
    retrain,
    rules,
    serve,
    team,
    versions,
)
from training.cli.synth import synth

app = typer.Typer(
    help="recsys: recommendations and next-best offers from purchase history.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.command(name="synth")(synth)
app.command(name="evaluate")(models.evaluate)
app.command(name="audience")(audience.audience)
app.add_typer(campaign.app, name="campaign")
app.command(name="train")(models.train)
app.command(name="promote")(models.promote)
app.command(name="retrain")(retrain.retrain)
app.command(name="diff-versions")(versions.diff_versions)
app.add_typer(rules.app, name="rules")
app.add_typer(features.app, name="features")
app.add_typer(events.app, name="events")
app.add_typer(catalogue.app, name="catalogue")
app.add_typer(experiments.app, name="experiments")
app.command(name="serve")(serve.serve)
app.command(name="demo")(serve.demo)
app.command(name="precompute")(serve.precompute)
app.add_typer(access.keys, name="keys")
app.add_typer(access.users, name="users")
app.command(name="audit")(access.audit)
app.add_typer(team.app, name="report")

__all__ = ["app"]
