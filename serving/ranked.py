"""Precomputed lists as their ranking only, explained when read.

A stored list of 10 with its reasons is ~8 KB of JSON (1.5 KB compressed): the
reasons repeat item titles and rule metrics the bundle already holds. So
precompute stores what the batched ranking decided (items, scores, each source's
share, the request's segment and country: ~300 bytes compressed) and a read
renders the reasons from the bundle, as a request would (~0.4 ms instead of the
~1.2 ms of ranking too). The key carries the bundle version, so a stored ranking
is always read with the bundle that made it.
"""

from __future__ import annotations

import zlib

import numpy as np
import orjson

from recsys._sparse import contains
from recsys.ranking import RankedItem, RequestOptions
from recsys.ranking.blend import Blended
from serving.state import Loaded

__all__ = ["MARK", "pack_ranking", "render"]

#: The first byte of a stored ranking (response bytes start with ``{``).
MARK = b"R"


def pack_ranking(client_id: str, ranked: Blended, options: RequestOptions) -> bytes:
    """One client's row of a batched ranking (a batch of one), compressed."""
    record = {
        "client": client_id,
        "items": ranked.items[0].tolist(),
        "scores": ranked.scores[0].tolist(),
        "parts": {name: part[0].tolist() for name, part in ranked.parts.items()},
        "segment": options.segment,
        "country": options.country,
    }
    return MARK + zlib.compress(orjson.dumps(record), 6)


def render(loaded: Loaded, stored: bytes) -> tuple[str, list[RankedItem] | None]:
    """The client and explained items of a stored ranking, reasons computed now;
    ``None`` for items when one of them may no longer be offered (catalogue)."""
    record = orjson.loads(zlib.decompress(stored[len(MARK) :]))
    if contains(loaded.recommender.facts.unavailable, np.array(record["items"])).any():
        return record["client"], None
    parts = {name: np.array([values]) for name, values in record["parts"].items()}
    scores = np.array([record["scores"]], dtype=np.float32)
    ranked = Blended(np.array([record["items"]], dtype=np.int64), scores, parts)
    options = RequestOptions(segment=record["segment"], country=record["country"])
    row = loaded.bundle.data.clients.lookup(record["client"])
    if row is None:  # not a client of this bundle: nothing to explain from
        return record["client"], []
    return record["client"], loaded.recommender.explain_row(row, ranked, options)
