"""The contract every model meets: fit, recommend (batched), similar items, save/load.

Index spaces are the training matrix's: client rows and item columns. A client
row of ``-1`` is a client the model never saw; with no history it gets the
popularity ranking (cold start), with history the model may fold it in.
Models persist as ``config.json`` plus one ``.npy`` per array (memory-mapped on
load): no pickle is ever loaded.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from recsys._io import UNREADABLE
from recsys.errors import ModelError
from recsys.models._top import popular_ranking, top_candidates, top_k, top_of_dense, top_of_row

__all__ = [
    "ModelConfig",
    "Recommendations",
    "Scorer",
    "popular_ranking",
    "top_candidates",
    "top_k",
    "top_of_row",
]

_BATCH = 2048


class ModelConfig(BaseModel):
    """Base of every model's hyperparameters: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    weighting: (
        Literal[
            "binary", "count", "log1p", "bm25", "first_days", "last_days", "purchase_days", "tifu"
        ]
        | None
    ) = None
    """The matrix weighting the training jobs fit this model on (``recsys.matrix``);
    unset: the shared ``matrix.weighting``. Histories keep the shared matrix. ``fit``
    itself takes the matrix it is given."""

    def matrix_settings(self) -> dict[str, Any]:
        """The ``MatrixConfig`` fields besides ``weighting`` that this model's matrix
        takes from its config (the jobs build it so); none by default."""
        return {}


class Recommendations(BaseModel):
    """Top-k item columns and scores per requested client, ``-1``/``nan`` padded."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    items: np.ndarray
    scores: np.ndarray


class Scorer(ABC):
    """A fitted recommender over one training matrix's index spaces."""

    name: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]
    #: How a person names the model (reasons, the CRM screen).
    label: ClassVar[str] = ""
    #: A collaborative source of the blend: it scores from the client's own history
    #: (popularity is not: the blend has its own popularity source).
    personal: ClassVar[bool] = False
    #: What fits it: ``local`` (this process) or ``spark`` (``training.spark``); the
    #: bundle's manifest records it, the saved model is the same either way.
    engine: ClassVar[str] = "local"
    #: It learnt what clients bought *after* their purchases (reasons say "went on to").
    later: ClassVar[bool] = False

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.popularity = np.zeros(0, dtype=np.float32)
        self.n_clients = 0

    @property
    def n_items(self) -> int:
        """Number of item columns the model knows."""
        return int(self.popularity.shape[0])

    def fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None = None) -> Self:
        """Fit on a client × item matrix; ``groups`` (client → group) is optional."""
        self.n_clients = matrix.shape[0]
        self.popularity = np.asarray((matrix > 0).sum(axis=0), dtype=np.float32).ravel()
        self._fit(matrix.tocsr().astype(np.float32), groups)
        return self

    def recommend(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        k: int = 10,
        exclude_seen: bool = True,
        fold_in: bool = False,
    ) -> Recommendations:
        """Top ``k`` for clients ``rows`` whose purchases are ``history``'s rows.

        ``exclude_seen`` drops items in the history; ``fold_in`` recomputes known
        clients from ``history`` too (fresh events), where the model can.
        """
        rows = np.asarray(rows, dtype=np.int64)
        history = sp.csr_matrix(history, dtype=np.float32)
        items = np.full((len(rows), k), -1, dtype=np.int64)
        scores = np.full((len(rows), k), np.nan, dtype=np.float32)
        personal = self._can_personalise(rows, history, fold_in)
        for start in range(0, len(rows), _BATCH):
            chunk = np.arange(start, min(start + _BATCH, len(rows)))
            mine, cold = chunk[personal[chunk]], chunk[~personal[chunk]]
            if mine.size:
                got = self._recommend(rows[mine], history[mine], k, exclude_seen, fold_in)
                items[mine], scores[mine] = got
            if cold.size:
                items[cold], scores[cold] = self.popular(history[cold], k, exclude_seen)
        return Recommendations(items=items, scores=scores)

    def popular(
        self, history: sp.csr_matrix, k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The popularity ranking for each history row (the cold-start answer)."""
        return popular_ranking(self.popularity, history if exclude_seen else None, k)

    def _can_personalise(
        self, rows: np.ndarray, history: sp.csr_matrix, fold_in: bool
    ) -> np.ndarray:
        """Rows this model scores itself; the rest get popularity."""
        return (rows >= 0) & (rows < self.n_clients)

    def similar_items(self, items: np.ndarray, k: int = 10) -> Recommendations:
        """Items most similar to each of ``items`` (the item itself left out)."""
        raise ModelError(f"model {self.name!r} has no item similarity")

    def basket_scores(self, items: np.ndarray) -> np.ndarray | None:
        """Scores of every item for one client who bought ``items`` (columns, unique,
        non-empty), ``-inf`` where the model proposes nothing: :meth:`recommend` with
        ``fold_in`` for one row, without building a sparse row. ``None`` when the model
        cannot score a basket by itself (callers then use :meth:`recommend`)."""
        return None

    def basket_candidates(
        self, items: np.ndarray, n: int, seen: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The top ``n`` for one client who bought ``items`` (columns, sorted, unique),
        compact (items, scores), ``seen`` left out; ``None`` when the model cannot score
        a basket by itself. This default reads :meth:`basket_scores`, a catalogue-long
        vector: models with sparse or approximate candidates override it."""
        scores = self.basket_scores(items)
        if scores is None:
            return None
        return top_of_dense(scores.astype(np.float64), n, seen)  # a copy: masked in place

    def similar_candidates(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`similar_items` of one item, compact (only real candidates, best first)."""
        got = self.similar_items(np.array([item]), n)
        found = got.items[0] >= 0
        return got.items[0][found], got.scores[0][found].astype(np.float64)

    def fit_note(self) -> str | None:
        """What the fit left out or changed, for logs and ``/v1/model``; ``None`` if nothing."""
        return None

    def similarity_block(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray | None:
        """Item-to-item similarity of ``rows`` × ``columns`` under this model (the
        "because you bought" evidence); ``None`` when the model has no such notion."""
        return None

    @abstractmethod
    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None: ...

    @abstractmethod
    def _recommend(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        k: int,
        exclude_seen: bool,
        fold_in: bool,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    # Persistence: a JSON config and one .npy per array, never a pickle. Arrays are
    # memory-mapped copy-on-write on load: the worker processes of one machine share
    # their pages, and libraries that want writable buffers still get them.
    def save(self, directory: Path) -> None:
        """Write the model under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.name, "config": self.config.model_dump(mode="json")}
        (directory / "config.json").write_text(json.dumps(meta, indent=2))
        arrays: dict[str, Any] = {
            "popularity": self.popularity,
            "n_clients": np.array(self.n_clients),
            **self._state(),
        }
        for key, array in arrays.items():
            np.save(directory / f"{key}.npy", np.asarray(array))
        self._save_files(directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model that :meth:`save` wrote (or an older ``arrays.npz``)."""
        try:
            meta = json.loads((directory / "config.json").read_text())
            if meta.get("model") != cls.name:
                raise ModelError(
                    f"{directory}: holds model {meta.get('model')!r}, not {cls.name!r}"
                )
            model = cls(cls.config_class.model_validate(meta["config"]))
            state = _read_arrays(directory)
            model.popularity = state.pop("popularity")
            model.n_clients = int(state.pop("n_clients"))
            model._restore(state)
            model._load_files(directory)
        except UNREADABLE as exc:
            raise ModelError(f"{directory}: cannot load model {cls.name!r} ({exc})") from None
        return model

    def _save_files(self, directory: Path) -> None:
        """Write what is not an array (an index file); nothing by default."""
        return None

    def _load_files(self, directory: Path) -> None:
        """Read what :meth:`_save_files` wrote; nothing by default."""
        return None

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _restore(self, state: dict[str, Any]) -> None: ...


def _read_arrays(directory: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` of a model directory, memory-mapped (copy-on-write)."""
    if (directory / "arrays.npz").exists():  # bundles written before format 2
        with np.load(directory / "arrays.npz", allow_pickle=False) as arrays:
            return {key: arrays[key] for key in arrays.files}
    found = sorted(directory.glob("*.npy"))
    if not found:
        raise FileNotFoundError(f"no arrays in {directory}")
    return {p.stem: np.load(p, mmap_mode="c", allow_pickle=False) for p in found}
