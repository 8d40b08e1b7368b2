"""MLflow: every train and evaluate is a run; bundles are registered model versions."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from recsys.errors import ConfigError
from training.candidates import adopt
from training.settings import TrainingSettings

__all__ = [
    "aliased_bundles",
    "flatten",
    "metric_key",
    "promote",
    "publish_bundle",
    "tag_version",
    "tracked_run",
]

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)


def metric_key(name: str) -> str:
    """MLflow refuses ``@`` in names: ``ndcg@10`` → ``ndcg_at_10``."""
    return re.sub(r"[^\w.\- /]", "_", name.replace("@", "_at_"))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"als": {"factors": 64}}`` → ``{"als.factors": 64}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@contextmanager
def tracked_run(
    kind: str, settings: TrainingSettings, params: dict[str, Any], tags: dict[str, str]
) -> Iterator[Run]:
    """Start an MLflow run named ``kind`` with flattened ``params`` and ``tags``."""
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_experiment(settings.mlflow_experiment)
    with mlflow.start_run(run_name=kind, tags={"job": kind, **tags}) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(params).items()})
        yield run


def log_metrics(metrics: dict[str, float]) -> None:
    """Log flattened metrics with MLflow-safe names."""
    flat = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, list | tuple):  # an interval [low, high]
            flat[metric_key(f"{key}_low")], flat[metric_key(f"{key}_high")] = map(float, value)
        else:
            flat[metric_key(key)] = float(value)
    mlflow.log_metrics(flat)


def publish_bundle(bundle_dir: Path, run: Run, settings: TrainingSettings) -> str:
    """Log the bundle as run artifacts and register it; return the new version."""
    mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
    client = MlflowClient(settings.tracking_uri())
    try:
        client.get_registered_model(settings.registered_model)
    except MlflowException:
        client.create_registered_model(settings.registered_model)
    version = client.create_model_version(
        settings.registered_model, source=f"{run.info.artifact_uri}/bundle", run_id=run.info.run_id
    )
    # Where the bundle also lies on local disk, so `promote` can point serving at it.
    name, number = settings.registered_model, str(version.version)
    client.set_model_version_tag(name, number, "bundle_dir", str(bundle_dir.resolve()))
    return number


def promote(version: str, settings: TrainingSettings) -> dict[str, str]:
    """Point the serving alias at ``version``; unknown versions are a ConfigError."""
    client = MlflowClient(settings.tracking_uri())
    try:
        found = client.get_model_version(settings.registered_model, version)
    except MlflowException:
        raise ConfigError(
            f"version: no version {version!r} of registered model {settings.registered_model!r}"
        ) from None
    local = Path(found.tags.get("bundle_dir", ""))
    if local.name:
        # A retrain candidate not promoted then (OUT/candidates/NAME) goes beside the
        # served bundles first: serving and retention look for it there.
        moved = adopt(local)
        if moved != local:
            client.set_model_version_tag(
                settings.registered_model, version, "bundle_dir", str(moved.resolve())
            )
            local = moved
    client.set_registered_model_alias(settings.registered_model, settings.serving_alias, version)
    if local.name and (local / "manifest.json").exists():
        # Serving watches this pointer and hot-reloads the promoted bundle.
        (local.parent / "CURRENT").write_text(local.name)
    return {
        "model": settings.registered_model,
        "alias": settings.serving_alias,
        "version": version,
        "source": str(found.source),
    }


def promoted_source(settings: TrainingSettings) -> str:
    """Artifact URI of the bundle the serving alias points at."""
    client = MlflowClient(settings.tracking_uri())
    found = client.get_model_version_by_alias(settings.registered_model, settings.serving_alias)
    return str(found.source)


def tag_version(version: str, tags: dict[str, str], settings: TrainingSettings) -> None:
    """Set ``tags`` on a registered version (and on the run that made it): a retrain's
    decision and its reasons, beside the bundle they judge."""
    client = MlflowClient(settings.tracking_uri())
    found = client.get_model_version(settings.registered_model, version)
    for key, value in tags.items():
        client.set_model_version_tag(settings.registered_model, version, key, value[:5000])
        if found.run_id:
            client.set_tag(found.run_id, key, value[:5000])


def aliased_bundles(settings: TrainingSettings) -> dict[str, Path]:
    """Alias → local bundle directory of every alias of the registered model ({} when
    the model is not registered yet)."""
    client = MlflowClient(settings.tracking_uri())
    try:
        model = client.get_registered_model(settings.registered_model)
    except MlflowException as error:  # only "not registered" means no alias: an
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":  # unreachable registry must
            raise  # stop retention, never let it delete an aliased bundle
        return {}
    found = {}
    for alias, version in (model.aliases or {}).items():
        tags = client.get_model_version(settings.registered_model, str(version)).tags
        found[alias] = Path(tags.get("bundle_dir", ""))
    return found
