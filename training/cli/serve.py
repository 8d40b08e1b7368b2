"""``recsys serve`` and ``recsys demo``: run the online service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from recsys.errors import ConfigError
from training.cli._errors import handle_errors
from training.cli._options import CleaningSetOption, SkipStepOption

SAMPLE = Path(__file__).resolve().parents[2] / "recsys/data/sample/online_retail_sample.csv.gz"
BUNDLES = Path("artifacts/bundles")
HostOption = Annotated[str, typer.Option(help="Address to bind.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port.")]


def _warn_if_unprotected(host: str) -> None:
    """Say at start what a non-loopback bind without keys means (protected mode)."""
    from serving.auth.access import PROTECTED, is_loopback
    from serving.auth.records import FileAccess
    from serving.settings import ServingSettings

    settings = ServingSettings()
    if (
        is_loopback(host)
        or host == "localhost"
        or settings.open_access
        or settings.admin_api_key is not None
    ):
        return
    if not FileAccess(settings.access_path).keys() and not settings.redis_url:
        typer.echo(f"warning: listening on {host}, but {PROTECTED}", err=True)


def _run(host: str, port: int, workers: int) -> None:
    import uvicorn

    _warn_if_unprotected(host)

    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


@handle_errors
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the API (settings from RECSYS_* variables: docs/reference/configuration.md).
    Several workers are several replicas: with RECSYS_REDIS_URL they share events,
    caches and rate limits."""
    if workers > 1 and not os.environ.get("RECSYS_REDIS_URL"):
        typer.echo(
            f"warning: {workers} workers without RECSYS_REDIS_URL do not share fresh "
            "purchases, cached lists or rate limits; set it to run them as one service",
            err=True,
        )
    _run(host, port, workers)


@handle_errors
def demo(
    events: Annotated[
        Path, typer.Option("--events", help="Events file (default: sample).")
    ] = SAMPLE,
    fmt: Annotated[str, typer.Option("--format", help="Input format.")] = "online-retail",
    out: Annotated[Path, typer.Option("--out", help="Where bundles go.")] = Path(
        "artifacts/bundles"
    ),
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    overrides: CleaningSetOption = None,
    skip: SkipStepOption = None,
) -> None:
    """Import, train, publish and serve: the whole service on one machine, no Redis."""
    import pandas as pd

    from feature_store import build_features
    from recsys.data import read_events
    from training import jobs
    from training.cli import _events

    cleaning = _events.cleaning(overrides, skip)
    loaded = _events.load(events, fmt, cleaning)
    bundle = jobs.train(
        loaded, jobs.choose_models(None, {}), jobs.matrix_config({}), jobs.rules_config({})
    )
    bundle.save(out / bundle.version)
    (out / "CURRENT").write_text(bundle.version)
    os.environ.setdefault("RECSYS_BUNDLE_PATH", str(out))
    features = out.parent / "features.parquet"
    as_of = loaded.events["timestamp"].max() + pd.Timedelta(days=1)
    # Served as of the day after the data's last event: on historical data today's date
    # would make every purchase look months old and judge dated analyst rules on the
    # wrong day.
    os.environ.setdefault("RECSYS_TODAY", as_of.date().isoformat())
    build_features(read_events(events, fmt), as_of, cleaning=cleaning).pipe(
        lambda t: t.assign(next_contact=t["next_contact"].astype(str))
    ).to_parquet(features)
    os.environ.setdefault("RECSYS_FEATURES_PATH", str(features))
    example = str(bundle.data.clients.ids[0])
    item = str(bundle.data.items.ids[int(bundle.models["popular"].popularity.argmax())])
    base = f"http://{host}:{port}"
    typer.echo(
        f"bundle {bundle.version}: {loaded.report.rows_kept:,} events, "
        f"{len(bundle.data.clients):,} clients, {len(bundle.data.items):,} items; "
        f"served as of {os.environ['RECSYS_TODAY']}"
    )
    for url in (
        f"{base}/v1/clients/{example}/recommendations?k=5",
        f"{base}/v1/items/{item}/related?k=5",
        f"{base}/v1/clients/{example}/next-best-offers",
        f"{base}/ui/clients/{example}",
        f"{base}/ui/at-risk",
        f"{base}/readyz",
        f"{base}/docs",
    ):
        typer.echo(f"  {url}")
    _run(host, port, 1)


@handle_errors
def precompute(
    k: Annotated[int, typer.Option(min=1, max=100, help="List length to precompute.")] = 10,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Clients ranked per batch.")] = 512,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the N most active clients (most items).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="Processes ranking batches side by side.")
    ] = 1,
) -> None:
    """Write every known client's top-k list into Redis (RECSYS_REDIS_URL), ranked in
    batches, stored compressed; progress on stderr."""
    from redis.exceptions import RedisError

    from serving.precompute import precompute as run
    from serving.settings import ServingSettings

    def progress(done: int, total: int) -> None:
        typer.echo(f"\r{done:,}/{total:,} clients", nl=False, err=True)

    settings = ServingSettings()
    try:
        got = run(settings, k, batch, progress, limit, workers)
    except RedisError as error:  # the lists' store: nothing is written without it
        raise ConfigError(f"RECSYS_REDIS_URL: Redis did not answer ({error})") from None
    typer.echo("", err=True)
    typer.echo(
        f"precomputed {got.clients:,} lists (k={k}) of bundle {got.version} in "
        f"{got.seconds:.1f}s ({got.clients_per_second:,.0f} clients/s; "
        f"{got.bytes_per_list:,.0f} bytes of Redis per list)"
    )
