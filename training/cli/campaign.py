"""``recsys campaign build | report | simulate``: contact lists, holdouts and effects.

``build`` reads the campaign from the campaigns directory (``RECSYS_CAMPAIGNS_PATH``)
and the bundle as the service serves it, writes the contact list a CRM imports and
records who is in treatment and who in holdout. ``report`` compares the groups over
the campaign's window on the events given. ``simulate`` builds a campaign on history
before a cut-off and reports it after (docs/how-to/campaigns.md).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys.errors import ConfigError, NotFoundError
from training.cli import _campaign_text as text
from training.cli import _events
from training.cli import _served as served
from training.cli._errors import handle_errors
from training.cli._options import (
    DEFAULT_TOMBSTONES,
    EventsOption,
    FormatOption,
    TombstonesOption,
)

if TYPE_CHECKING:
    import pandas as pd

    from recsys.campaigns import Campaign, CampaignStore
    from serving.settings import ServingSettings

__all__ = ["app"]

app = typer.Typer(help="Campaigns: contact lists, holdouts, effects.", no_args_is_help=True)

CampaignsOption = Annotated[
    Path,
    typer.Option("--campaigns", envvar="RECSYS_CAMPAIGNS_PATH", help="The campaigns directory."),
]
DEFAULT_CAMPAIGNS = Path("artifacts/campaigns")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
@handle_errors
def build(
    name: Annotated[str, typer.Argument(help="The campaign (NAME.yaml in --campaigns).")],
    bundle: Annotated[Path, typer.Option("--bundle", help="A bundle, or a directory of them.")],
    out: Annotated[Path, typer.Option("--out", help="The contact list (CSV) to write.")],
    campaigns: CampaignsOption = DEFAULT_CAMPAIGNS,
    features: Annotated[
        Path | None,
        typer.Option("--features", envvar="RECSYS_FEATURES_PATH", help="Client features."),
    ] = None,
    include_holdout: Annotated[
        bool, typer.Option(help="Also list holdout members (group=holdout): not to contact.")
    ] = False,
    day: Annotated[
        str | None,
        typer.Option(
            "--day",
            envvar="RECSYS_TODAY",
            help="The day repeat items are judged due on [default: the campaign's start].",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Rebuild a campaign that has started (its groups change).")
    ] = False,
    tombstones: TombstonesOption = DEFAULT_TOMBSTONES,
) -> None:
    """Pick the audience, leave out clients over the contact cap, split treatment and
    holdout, give each member its offers with reasons; write the contact list and
    record the members (the report and the next builds' contact cap read them)."""
    from recsys.campaigns import CampaignStore
    from recsys.campaigns.build import Pressure, build_campaign
    from training.cli._campaign_pool import pool_ranker

    store = CampaignStore(campaigns)
    campaign = _definition(store, name)
    now = datetime.now(UTC)
    _not_started(store, campaign, now, force)
    table = _features(campaign, features)
    settings = served.settings(bundle, served.day(day) or campaign.start)
    if features is not None and "segment" in table:  # each segment's popularity, as served
        settings = settings.model_copy(update={"features_path": features})
    loaded = served.loaded(settings, bundle)
    bought = served.purchases_since(settings, loaded)
    rules = served.exclusions(settings, tombstones, None, {}, bought)
    pressure = Pressure(_contacts(store, settings, name), *_cap(settings))
    # Workers load the very bundle this process loaded, whatever CURRENT says later.
    chosen = settings.model_copy(update={"bundle_path": loaded.source})
    ranker = pool_ranker(loaded.recommender, chosen, loaded.source)
    try:
        built = build_campaign(loaded.recommender, campaign, table, rules, pressure, now, ranker)
    except NotFoundError as error:  # an item, category or tag the bundle does not know
        raise ConfigError(str(error)) from None
    _write(out, built.members, include_holdout)  # no list written: nothing recorded
    store.record(name, built.members, built.report)
    typer.echo(text.built(built.report, out))


def _not_started(store: CampaignStore, campaign: Campaign, now: datetime, force: bool) -> None:
    """A built campaign whose start has come is not rebuilt unless forced: its recorded
    groups are who was contacted, and what the report compares."""
    built = store.build_report(campaign.name)
    if built is not None and now.date() >= campaign.start and not force:
        raise ConfigError(
            f"{campaign.name}: started {campaign.start} and built {built.get('built_at')};"
            " rebuilding changes who the report compares (--force to rebuild anyway)"
        )


@app.command()
@handle_errors
def report(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    events: EventsOption,
    fmt: FormatOption = "canonical",
    extra_events: Annotated[
        Path | None,
        typer.Option("--extra-events", help="The service's event log (JSON lines), added."),
    ] = None,
    campaigns: CampaignsOption = DEFAULT_CAMPAIGNS,
    track: Annotated[bool, typer.Option(help="Log the report as an MLflow run.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Treatment vs holdout over the campaign's window: buyers, buyers of an offered
    item, revenue and orders per client, average check; each difference with its 95 %
    interval, CUPED-adjusted, and the difference-in-differences; per channel and
    segment; the sample-ratio check."""
    import pandas as pd

    from recsys.campaigns import CampaignStore, campaign_effect

    store = CampaignStore(campaigns)
    _definition(store, name)
    campaign = store.as_built(name)  # the holdout share and start the members had
    members = store.members(name)
    if members.empty:
        raise ConfigError(f"{name}: not built yet (recsys campaign build {name})")
    table = _events_table(events, fmt, extra_events)
    start, end = pd.Timestamp(campaign.start, tz="UTC"), pd.Timestamp(campaign.end, tz="UTC")
    found = campaign_effect(members, table, start, end, campaign.holdout)
    if track:
        _track(campaign, found)
    typer.echo(json.dumps(found, indent=2) if as_json else text.report(name, found))


@app.command()
@handle_errors
def simulate(
    events: EventsOption,
    cutoff: Annotated[str, typer.Option("--cutoff", help="Build before, read after.")],
    fmt: FormatOption = "canonical",
    days: Annotated[int, typer.Option("--days", min=1, help="The campaign window.")] = 28,
    holdout: Annotated[float, typer.Option("--holdout", min=1, max=50, help="Percent.")] = 10.0,
    inject_uplift: Annotated[
        float, typer.Option("--inject-uplift", min=-0.9, max=10, help="0.10: +10 %.")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Salts the holdout hash.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """A campaign built on the events before --cutoff (every client who bought,
    offered its most re-bought items) and reported over --days after it; with
    --inject-uplift the treatment's purchases there are raised by that share."""
    import pandas as pd

    from recsys.campaigns.simulate import simulate as replay

    when = served.day(cutoff, "--cutoff")
    table = _events.load(events, fmt, _events.cleaning(None, None)).events
    found = replay(table, pd.Timestamp(when, tz="UTC"), days, holdout, inject_uplift, seed)
    summary = {"metrics": found["metrics"], "srm_p": found["srm_p"], "clients": found["clients"]}
    typer.echo(json.dumps(summary, indent=2) if as_json else text.report("simulation", found))


def _definition(store: CampaignStore, name: str) -> Campaign:
    try:
        return store.definition(name)
    except NotFoundError as error:
        raise ConfigError(f"NAME: {error}") from None


def _features(campaign: Campaign, features: Path | None) -> pd.DataFrame:
    """The feature table: required by segment and churn audiences and the segment
    filter; read whenever given (each member's segment and country for its offers, the
    report's per-segment figures)."""
    import pandas as pd

    spec = campaign.audience
    needed = {"segment": ("segment",), "churn_risk": ("churn_risk", "monetary")}.get(spec.kind, ())
    needed += ("segment",) if spec.segment is not None else ()
    if needed:
        segment = spec.value if spec.kind == "segment" else spec.segment
        why = "audience.segment" if spec.segment is not None else f"audience.{spec.kind}"
        return served.features_table(features, why, segment, needed)
    if features is not None:  # read whenever given: a wrong path is an error, not silence
        return served.features_table(features, "--features")
    return pd.DataFrame()


def _cap(settings: ServingSettings) -> tuple[int, int]:
    return settings.contact_cap, settings.contact_days


def _contacts(store: CampaignStore, settings: ServingSettings, name: str) -> pd.DataFrame:
    """Contacts so far: other campaigns' treatment members and logged outcomes."""
    import pandas as pd

    logged = [r["outcome"] for r in served.outcome_records(settings)]
    outcomes = pd.DataFrame(
        [{"client_id": o["client_id"], "at": o["at"], "campaign": "outcome",
          "channel": o["channel"]} for o in logged],
        columns=["client_id", "at", "campaign", "channel"],
    )  # fmt: skip
    # Outcomes are logged per offer: a call about three items is one contact a day.
    day = pd.to_datetime(outcomes["at"], utc=True, format="ISO8601").dt.floor("D")
    outcomes = outcomes[~outcomes.assign(day=day).duplicated(["client_id", "channel", "day"])]
    return pd.concat([store.contacts(leave_out=name), outcomes], ignore_index=True)


def _events_table(events: Path, fmt: str, extra: Path | None) -> pd.DataFrame:
    loaded = _events.load(events, fmt, _events.cleaning(None, None))
    if extra is not None:
        from recsys.data import combine

        added = _events.load(extra, "events-log", _events.cleaning(None, None))
        loaded = combine(loaded, added)
    return loaded.events


def _track(campaign: Campaign, found: dict[str, Any]) -> None:
    from training import tracking
    from training.settings import TrainingSettings

    params = {"holdout": campaign.holdout, "channel": campaign.channel, "start": campaign.start}
    tags = {"campaign": campaign.name}
    with tracking.tracked_run("campaign-report", TrainingSettings(), params, tags):
        tracking.log_metrics(text.numbers(found))


def _write(out: Path, members: pd.DataFrame, include_holdout: bool) -> None:
    """One row per (member, offer): client_id, group, channel, rank, item_id, reason."""
    chosen = members if include_holdout else members[members["group"] == "treatment"]
    header = ["client_id", "group", "channel", "rank", "item_id", "reason"]
    rows = [
        [m.client_id, m.group, m.channel, rank, item, reason]
        for m in chosen.itertuples(index=False)
        for rank, (item, reason) in enumerate(zip(m.offers, m.reasons, strict=True), 1)
    ]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
    except OSError as error:
        raise ConfigError(f"--out: cannot write {out} ({error.strerror or error})") from None
