"""Shared glue for models backed by the implicit library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from recsys._sparse import row_contains
from recsys.models._top import _pad

_CONTROLLER: ThreadpoolController | None = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """implicit runs its own threads; a multi-threaded BLAS underneath slows it down.

    The controller is built once: scanning the loaded libraries costs ~2 ms a call.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def recommend_with(
    model: object,
    userids: np.ndarray,
    history: sp.csr_matrix,
    k: int,
    exclude_seen: bool,
    recalculate: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Call ``model.recommend`` for a batch and pad to ``k`` with ``-1``."""
    k_eff = min(k, history.shape[1])
    with single_threaded_blas():
        ids, scores = model.recommend(  # type: ignore[attr-defined]
            userids,
            history,
            N=k_eff,
            filter_already_liked_items=exclude_seen,
            recalculate_user=recalculate,
        )
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    valid = (ids >= 0) & np.isfinite(scores) & (scores > np.finfo(np.float32).min)
    if exclude_seen:  # item-kNN scores seen items 0 instead of dropping them
        valid &= ~row_contains(ids, history)
    return compact(np.where(valid, ids, -1), scores, k)


def compact(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Move the valid entries of each row to the front, keeping their order."""
    order = np.argsort(ids < 0, axis=1, kind="stable")
    return _pad(np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1), k)
