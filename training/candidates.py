"""Where ``recsys retrain`` keeps the candidates it did not promote, and how one is
moved beside the served bundles when promoted later (:mod:`training.retention` keeps
them; :func:`training.tracking.promote` moves one). Its own module: both import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from recsys.errors import ConfigError

__all__ = ["CANDIDATES", "MARKER", "adopt", "candidates_dir"]

#: The subdirectory of a bundle directory holding the candidates not promoted.
CANDIDATES = "candidates"
#: The file that marks a directory as retrain's candidates (not a bundle directory
#: someone happened to call ``candidates``).
MARKER = ".recsys-candidates"
_README = (
    "Candidates recsys retrain did not promote (rejected, dry run): not served, kept "
    "apart from the served bundles in the directory above. `recsys promote VERSION` "
    "moves one there before serving it.\n"
)


def candidates_dir(out: Path) -> Path:
    """``out``/candidates, created with its marker."""
    where = out / CANDIDATES
    where.mkdir(parents=True, exist_ok=True)
    marker = where / MARKER
    if not marker.is_file():
        marker.write_text(_README)
    return where


def adopt(directory: Path) -> Path:
    """Where a bundle to promote lies once beside the served bundles: a retrain
    candidate (``OUT/candidates/NAME``) is moved to ``OUT/NAME`` (one rename on the
    same disk) and that path returned; any other directory is returned as is. A
    candidate already moved (an earlier promotion stopped before it re-tagged the
    version) is found at its new place."""
    home = directory.parent
    if home.name != CANDIDATES or not (home / MARKER).is_file():
        return directory
    target = home.parent / directory.name
    if (directory / "manifest.json").is_file():
        if target.exists():
            raise ConfigError(f"candidate {directory}: {target} exists already; not moved")
        os.replace(directory, target)
        return target
    return target if (target / "manifest.json").is_file() else directory
