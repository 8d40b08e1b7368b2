"""A versioned artifact bundle: everything the online service needs, no pickle.

Layout of a bundle directory::

    manifest.json        version, created_at, data fingerprint, configs, metrics, engines
    clients.npy items.npy   id maps (unicode arrays)
    titles.npy categories.npy   item labels (may be empty strings)
    rules.npz            association rules (single consequent), if mined
    history_*.npy        the weighted client × item training matrix (CSR arrays)
    models/<name>/       each model's config.json, one .npy per array, index files

Arrays are memory-mapped on load (copy-on-write): several worker processes of
one machine share their pages, and loading a large bundle reads almost nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._io import UNREADABLE
from recsys.data import mode_by
from recsys.errors import ModelError
from recsys.matrix import InteractionMatrix, MatrixConfig
from recsys.models import MODELS, Scorer
from recsys.repeat import RepeatIndex
from recsys.rules.index import RuleIndex
from recsys.vocab import IdMap

__all__ = ["Bundle", "EventsPosition", "data_fingerprint", "item_titles"]

FORMAT_VERSION = 2


def data_fingerprint(events: pd.DataFrame) -> str:
    """A content hash of the canonical events (order-sensitive, 16 hex digits)."""
    hashed = pd.util.hash_pandas_object(events, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def item_titles(events: pd.DataFrame, items: IdMap, column: str = "title") -> np.ndarray:
    """The most frequent ``column`` value (title, category) of each item, ``""`` if none."""
    mode = mode_by(events, "item_id", column)
    return mode.reindex(items.ids).fillna("").to_numpy(dtype=str)


@dataclass(frozen=True)
class EventsPosition:
    """Where the service's accepted events a bundle was trained on end. Replicas apply
    every later event, also those accepted while the bundle trained (its
    ``created_at`` is stamped only when training ends)."""

    stream_id: str | None = None
    """The last Redis Stream entry read (``<ms>-<seq>``): replicas follow after it."""
    log_offset: int | None = None
    """Bytes of the local event log read (embedded mode): replayed after them at start."""
    log_event_id: str | None = None
    """The ``event_id`` of the last line read: the offset is used only in a log whose
    line before it has this id (the same log, not another file)."""

    @classmethod
    def from_manifest(cls, value: dict[str, Any] | None) -> EventsPosition | None:
        """The position a manifest records; ``None`` for bundles written before it."""
        return None if not value else cls(**value)


@dataclass
class Bundle:
    """Fitted models with their id maps, training history and provenance."""

    data: InteractionMatrix
    models: dict[str, Scorer]
    matrix_config: MatrixConfig
    fingerprint: str
    titles: np.ndarray
    categories: np.ndarray | None = None
    rules: RuleIndex | None = None
    repeats: RepeatIndex | None = None
    version: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    metrics: dict[str, float] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    """What fitted each part (``import``, ``rules``, a model): ``local`` or ``spark``;
    models not named here say their own (:attr:`Scorer.engine`)."""
    events_position: EventsPosition | None = None
    """Where the service's events it was trained on end; ``None`` when it read none
    (replicas then start from ``created_at``)."""

    def __post_init__(self) -> None:
        if self.categories is None:
            self.categories = np.full(len(self.titles), "", dtype=str)
        if not self.version:
            stamp = self.created_at.replace("-", "").replace(":", "")[:15]
            self.version = f"{stamp}-{self.fingerprint[:8]}"

    def manifest(self) -> dict[str, Any]:
        """The JSON description written beside the arrays."""
        return {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "created_at": self.created_at,
            "data_fingerprint": self.fingerprint,
            "matrix": self.matrix_config.model_dump(mode="json"),
            "models": {n: m.config.model_dump(mode="json") for n, m in self.models.items()},
            "clients": len(self.data.clients),
            "items": len(self.data.items),
            "metrics": self.metrics,
            "engines": {**{n: m.engine for n, m in self.models.items()}, **self.engines},
            "events_position": asdict(self.events_position) if self.events_position else None,
        }

    def save(self, directory: Path) -> Path:
        """Write the bundle into ``directory`` (created) and return it."""
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "clients.npy", self.data.clients.ids)
        np.save(directory / "items.npy", self.data.items.ids)
        np.save(directory / "titles.npy", self.titles.astype(str))
        np.save(directory / "categories.npy", np.asarray(self.categories).astype(str))
        if self.rules is not None:
            self.rules.save(directory / "rules.npz")
        if self.repeats is not None:
            self.repeats.save(directory / "repeats.npz")
        matrix = self.data.matrix
        for part in ("data", "indices", "indptr"):  # memory-mapped on load
            np.save(directory / f"history_{part}.npy", getattr(matrix, part))
        for name, model in self.models.items():
            model.save(directory / "models" / name)
        (directory / "manifest.json").write_text(json.dumps(self.manifest(), indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        """Read and validate a bundle; any inconsistency raises :class:`ModelError`."""
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            clients = IdMap(np.load(directory / "clients.npy", allow_pickle=False))
            items = IdMap(np.load(directory / "items.npy", allow_pickle=False))
            titles = np.load(directory / "titles.npy", allow_pickle=False)
            categories = np.load(directory / "categories.npy", allow_pickle=False)
            history = _load_history(directory, (len(clients), len(items)))
        except UNREADABLE as exc:
            raise ModelError(f"{directory}: not a readable bundle ({exc})") from None
        models = {name: _load_model(directory, name) for name in manifest.get("models", {})}
        bundle = cls(
            data=InteractionMatrix(history, clients, items),
            models=models,
            matrix_config=MatrixConfig.model_validate(manifest["matrix"]),
            fingerprint=manifest["data_fingerprint"],
            titles=titles,
            categories=categories,
            rules=RuleIndex.load(directory / "rules.npz")
            if (directory / "rules.npz").exists()
            else None,
            repeats=RepeatIndex.load(directory / "repeats.npz")
            if (directory / "repeats.npz").exists()
            else None,
            version=manifest["version"],
            created_at=manifest["created_at"],
            metrics=manifest.get("metrics", {}),
            engines=manifest.get("engines", {}),
            events_position=EventsPosition.from_manifest(manifest.get("events_position")),
        )
        bundle.validate()
        return bundle

    def validate(self) -> None:
        """Check that shapes agree across id maps, history and models."""
        shape = (len(self.data.clients), len(self.data.items))
        problems = [f"history is {self.data.matrix.shape}, id maps say {shape}"] * (
            self.data.matrix.shape != shape
        )
        problems += [
            f"model {name!r} knows {m.n_items} items, not {shape[1]}"
            for name, m in self.models.items()
            if m.n_items != shape[1]
        ]
        if len(self.titles) != shape[1] or len(np.asarray(self.categories)) != shape[1]:
            problems.append(f"{len(self.titles)} titles for {shape[1]} items")
        if self.rules is not None and self.rules.antecedents.shape[1] != shape[1]:
            problems.append(f"rules cover {self.rules.antecedents.shape[1]} items, not {shape[1]}")
        if problems:
            raise ModelError(f"bundle {self.version}: " + "; ".join(problems))


def _load_history(directory: Path, shape: tuple[int, int]) -> sp.csr_matrix:
    """The training matrix, its arrays memory-mapped copy-on-write (shared pages)."""
    if (directory / "history.npz").exists():  # bundles written before format 2
        return sp.load_npz(directory / "history.npz").tocsr()
    parts = [
        np.load(directory / f"history_{p}.npy", mmap_mode="c", allow_pickle=False)
        for p in ("data", "indices", "indptr")
    ]
    return sp.csr_matrix(tuple(parts), shape=shape, copy=False)


def _load_model(directory: Path, name: str) -> Scorer:
    where = directory / "models" / name
    try:
        kind = json.loads((where / "config.json").read_text())["model"]
    except UNREADABLE as exc:
        raise ModelError(f"{where}: not a readable model ({exc})") from None
    if kind not in MODELS:
        raise ModelError(f"{where}: unknown model kind {kind!r}")
    return MODELS[kind].load(where)
