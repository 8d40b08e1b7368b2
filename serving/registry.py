"""Which bundle the MLflow model registry says to serve (optional).

With ``RECSYS_MLFLOW_TRACKING_URI`` set, the served bundle is the registered model
version under the serving alias (set by ``recsys promote``), found through the
version's ``bundle_dir`` tag: that path, or a bundle of that name under
``bundle_path`` (another machine). The registry is asked with a short timeout and
no retries; when it cannot answer, the caller falls back to the local pointer.
"""

from __future__ import annotations

import os
from pathlib import Path

from recsys.errors import ModelError
from serving.settings import ServingSettings

__all__ = ["registry_bundle"]


def registry_bundle(settings: ServingSettings) -> Path:
    """The bundle directory of the version under the serving alias.

    Raises :class:`ModelError` when the registry cannot be reached or names no
    bundle this machine has.
    """
    # A tracking server that is down must not hold startup for minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    from mlflow import MlflowClient  # imported only when configured: ~1 s

    uri, name, alias = (
        settings.mlflow_tracking_uri,
        settings.registered_model,
        settings.serving_alias,
    )
    try:
        found = MlflowClient(uri).get_model_version_by_alias(name, alias)
    except Exception as error:  # HTTP, SQL and MLflow errors alike mean "no answer"
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ModelError(f"MLflow {uri}: {type(error).__name__}: {first[:200]}") from None
    tagged = Path(found.tags.get("bundle_dir", ""))
    for candidate in (tagged, settings.bundle_path / tagged.name):
        if tagged.name and (candidate / "manifest.json").exists():
            return candidate
    raise ModelError(
        f"{name}@{alias} is version {found.version}, bundle {tagged.name or '?'}: "
        f"not at {tagged} nor under {settings.bundle_path}"
    )
