"""A candidate in the registry: registered, judged (tags), and promoted or not.

Promotion is ``recsys promote``'s own path (:func:`training.tracking.promote`, then
the ``model.promote`` audit line); a rejected candidate stays registered, tagged
``retrain.decision=rejected`` with its reasons, so the registry shows why. One the
gate passed is tagged ``pending`` until the promotion is done, then ``promoted``.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from recsys.bundle import Bundle
from training import tracking
from training.settings import TrainingSettings

__all__ = ["judge", "log_document", "os_user", "promote", "register"]


def os_user() -> str:
    """Who runs the command (recorded with a forced promotion)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def register(
    directory: Path,
    bundle: Bundle,
    params: dict[str, Any],
    metrics: dict[str, Any],
    documents: dict[str, Any],
    settings: TrainingSettings,
) -> tuple[str, str]:
    """Log a ``retrain`` run with ``params``, ``metrics`` and ``documents`` (JSON
    artifacts: the gate's checks, the diff from production) and register the bundle;
    return (version, run id)."""
    import mlflow

    tags = {"models": ",".join(bundle.models), "bundle_version": bundle.version, "engine": "local"}
    with tracking.tracked_run("retrain", settings, params, tags) as run:
        tracking.log_metrics(metrics)
        for name, document in documents.items():
            mlflow.log_dict(document, f"{name}.json")
        return tracking.publish_bundle(directory, run, settings), run.info.run_id


def judge(
    version: str,
    decision: str,
    reasons: list[str],
    forced_by: str | None,
    settings: TrainingSettings,
) -> None:
    """Tag the version (and its run) with the gate's decision and reasons."""
    tags = {"retrain.decision": decision, "retrain.reasons": "; ".join(reasons) or "none"}
    if forced_by is not None:
        tags["retrain.forced_by"] = forced_by
    tracking.tag_version(version, tags, settings)


def log_document(
    run_id: str, name: str, document: dict[str, Any], settings: TrainingSettings
) -> None:
    """Replace the run's ``name``.json artifact (the gate's record once promoted)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(settings.tracking_uri()).log_dict(run_id, document, f"{name}.json")


def promote(version: str, settings: TrainingSettings, detail: dict[str, Any]) -> str | None:
    """Move the serving alias (and ``CURRENT``) to ``version`` and write the audit line;
    return a warning when the line could not be written (promoted all the same)."""
    from training.cli.access import record_action

    result = tracking.promote(version, settings)
    try:
        record_action("model.promote", f"{result['model']}@{result['alias']}", detail)
    except Exception as error:  # promoted already: say the log missed it, do not undo
        return f"promoted, but the audit log was not written: {error}"
    return None
