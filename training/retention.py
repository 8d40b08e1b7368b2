"""Retention: keep the newest bundles and every one something may serve; remove the rest.

A bundle is kept when it is among the ``keep`` newest (by ``created_at``), when the
directory's ``CURRENT`` pointer names it (serving without MLflow), or when any alias
of the registered model points at it (serving with MLflow, a rollback target): by
name, since serving also looks a tagged bundle up by name under its own bundle path.
Only directories holding a ``manifest.json`` count as bundles: one being written (its
manifest comes last), the events archive and anything else are never touched. When
the registry cannot be asked, nothing is removed.

``recsys retrain`` writes the candidates it does not promote (rejected, dry run) under
``OUT/candidates/`` (:data:`CANDIDATES`), never beside the served bundles: serving,
which takes the newest bundle under ``OUT`` when ``CURRENT`` is missing, does not look
there, and they do not count toward the served bundles kept. They have a ``keep`` of
their own (:func:`prune_candidates`). Promoting one later moves it beside the served
bundles first (:func:`adopt`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from recsys.errors import RecsysError
from training import tracking
from training.candidates import CANDIDATES, MARKER, adopt, candidates_dir
from training.settings import TrainingSettings

__all__ = [
    "CANDIDATES",
    "adopt",
    "bundles",
    "candidates_dir",
    "protected",
    "prune",
    "prune_candidates",
]


def bundles(out: Path) -> list[Path]:
    """The bundle directories under ``out``, oldest first (``created_at``, then name)."""
    found = [p.parent for p in out.glob("*/manifest.json")]
    return sorted(found, key=lambda p: (_created(p), p.name))


def _created(directory: Path) -> str:
    try:
        return str(json.loads((directory / "manifest.json").read_text())["created_at"])
    except (OSError, ValueError, KeyError):  # unreadable: oldest, yet still a bundle
        return ""


def protected(out: Path, settings: TrainingSettings) -> set[str]:
    """Names of the bundles ``CURRENT`` or an alias points at."""
    names = set()
    pointer = out / "CURRENT"
    if pointer.is_file():
        names.add(pointer.read_text().strip())
    try:
        aliased = tracking.aliased_bundles(settings)
    except Exception as error:  # the registry's errors are many kinds: all mean "unknown"
        raise RecsysError(
            f"retention: cannot list the aliases ({error}); removed nothing"
        ) from None
    return names | {path.name for path in aliased.values() if path.name}


def prune(out: Path, keep: int, spared: set[str]) -> list[Path]:
    """Remove every bundle but the ``keep`` newest and those named in ``spared``;
    return the removed directories. The candidates under ``out``/candidates are not
    among them (:func:`prune_candidates`)."""
    if keep < 1:
        raise RecsysError(f"retention: keep must be at least 1, not {keep}")
    found = bundles(out)
    doomed = [p for p in found[: max(len(found) - keep, 0)] if p.name not in spared]
    for path in doomed:
        # The manifest first: a half-removed directory is then no bundle to anyone.
        (path / "manifest.json").unlink(missing_ok=True)
        shutil.rmtree(path)
    return doomed


def prune_candidates(out: Path, keep: int, spared: set[str]) -> list[Path]:
    """The same for the candidates: the ``keep`` newest stay, and any an alias names."""
    where = out / CANDIDATES
    return prune(where, keep, spared) if (where / MARKER).is_file() else []
