"""``recsys diff-versions A B``: what a bundle changed from another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys.errors import ConfigError
from training.cli._errors import handle_errors

if TYPE_CHECKING:
    from training.settings import TrainingSettings

__all__ = ["diff_versions", "resolve"]

VersionArgument = Annotated[
    str,
    typer.Argument(
        help="A registered version (3), an alias (production), a bundle directory, or a "
        "bundle's name under --bundles."
    ),
]


@handle_errors
def diff_versions(
    a: VersionArgument,
    b: VersionArgument,
    bundles: Annotated[
        Path, typer.Option("--bundles", help="Directory of bundles to look names up in.")
    ] = Path("artifacts/bundles"),
    sample: Annotated[int, typer.Option(min=1, help="Clients whose top-10 are compared.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Clients, items and rules added and removed from A to B, and how far the top-10
    lists of a fixed sample of clients moved (share changed, rank-biased overlap)."""
    from recsys.bundle import Bundle
    from training.diff import DiffConfig, diff_bundles
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    first, second = (Bundle.load(resolve(ref, bundles, settings)) for ref in (a, b))
    found = diff_bundles(first, second, DiffConfig(sample=sample))
    typer.echo(json.dumps(found, indent=2) if as_json else describe(found))


def resolve(ref: str, bundles: Path, settings: TrainingSettings) -> Path:
    """The bundle directory ``ref`` names; an unknown one is a ConfigError naming it."""
    for candidate in (Path(ref), bundles / ref):
        if (candidate / "manifest.json").is_file():
            return candidate
    tagged = _registered(ref, settings)
    for candidate in (tagged, bundles / tagged.name):
        if tagged.name and (candidate / "manifest.json").is_file():
            return candidate
    raise ConfigError(f"version {ref!r}: registered as bundle {tagged}, not found on this machine")


def _registered(ref: str, settings: TrainingSettings) -> Path:
    """The ``bundle_dir`` tag of registered version (or alias) ``ref``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client, name = MlflowClient(settings.tracking_uri()), settings.registered_model
    try:
        found = (
            client.get_model_version(name, ref)
            if ref.isdigit()
            else client.get_model_version_by_alias(name, ref)
        )
    except MlflowException:
        raise ConfigError(
            f"version {ref!r}: no bundle directory, bundle name or registered version "
            f"(or alias) of {name!r} by that name"
        ) from None
    return Path(found.tags.get("bundle_dir", ""))


def describe(found: dict[str, Any]) -> str:
    """The diff as a few lines for a person."""
    lines = [f"{found['a']} → {found['b']}"]
    for part in ("clients", "items", "rules"):
        counts = found[part]
        changed = f", {counts['changed']:,} changed" if "changed" in counts else ""
        lines.append(
            f"  {part}: {counts['a']:,} → {counts['b']:,} (+{counts['added']:,} added, "
            f"−{counts['removed']:,} removed{changed})"
        )
    lines.append(
        f"  top-10 of {found['sampled_clients']} sampled clients: "
        f"{found['lists_changed_share']:.0%} changed, mean rank-biased overlap "
        f"{found['rank_biased_overlap']:.3f}"
    )
    for rule in found["rules"]["top_added"]:
        lines.append(
            f"  new rule {', '.join(rule['antecedent'])} → {rule['consequent']} "
            f"(lift {rule['lift']:.2f})"
        )
    return "\n".join(lines)
