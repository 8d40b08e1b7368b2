"""Deleted clients (privacy, e.g. GDPR art. 17): tombstones that every later list,
export and training honours.

A tombstone is the SHA-256 of the client id, never the id itself, so the list of
deleted clients holds no personal data; a job hashes the ids it reads (once per
distinct client) and drops the rows whose hash is listed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["append_tombstones", "client_hash", "read_tombstones"]


def client_hash(client_id: str) -> str:
    """The tombstone of ``client_id``: its SHA-256, hex."""
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()


def read_tombstones(path: Path) -> frozenset[str]:
    """The tombstones in ``path`` (one per line; none when the file does not exist)."""
    if not path.exists():
        return frozenset()
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())


def append_tombstones(path: Path, hashes: Iterable[str]) -> None:
    """Add tombstones to ``path``, fsynced before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as handle:
        handle.writelines(f"{h}\n" for h in hashes)
        handle.flush()
        os.fsync(handle.fileno())
