"""Treatment or holdout: a deterministic hash of campaign and client.

The same client always lands in the same group of a campaign, on every build and
every replica, without storing anything first (the groups are recorded after each
build all the same, for the report). The hash is the experiments' one
(:func:`recsys.feedback.bucket`), salted with ``campaign:`` so a campaign and an
experiment of the same name split clients independently.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from recsys.feedback import bucket
from recsys.feedback.experiments import BUCKETS

__all__ = ["HOLDOUT", "TREATMENT", "groups", "in_holdout"]

TREATMENT = "treatment"
HOLDOUT = "holdout"


def in_holdout(campaign: str, clients: Iterable[str], share: float) -> np.ndarray:
    """Per client, whether it is held out of ``campaign`` (``share``: percent)."""
    cut = share * BUCKETS / 100
    found = np.fromiter((bucket(f"campaign:{campaign}", c) for c in clients), dtype=np.int64)
    return found < cut


def groups(campaign: str, clients: Iterable[str], share: float) -> np.ndarray:
    """Per client, ``"treatment"`` or ``"holdout"``."""
    held = in_holdout(campaign, clients, share)
    return np.where(held, HOLDOUT, TREATMENT).astype(object)
