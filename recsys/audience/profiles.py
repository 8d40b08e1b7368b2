"""A client's segment and country, as analyst rules target them (a rule may name
segments or countries: :class:`recsys.rules.cross_sell.CrossSellRule`), read from the
client feature table (``segment``, ``favourite_country``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import pandas as pd

__all__ = ["FIELDS", "NO_PROFILE", "Profile", "profile_of", "profiles_of"]

Profile = tuple[str | None, str | None]
"""(segment, country); ``None`` where not known."""
NO_PROFILE: Profile = (None, None)
FIELDS = ("segment", "favourite_country")
"""The client features a profile is read from."""


def profiles_of(features: pd.DataFrame, clients: Iterable[str] | None = None) -> dict[str, Profile]:
    """Client id → profile from ``features`` (indexed by client id), for ``clients``
    (default: every row); a client twice (ids read as text) keeps its last row."""
    if features.empty:
        return {}
    named = features[[c for c in ("segment", "favourite_country") if c in features]]
    named = named.set_axis(named.index.astype(str))
    named = named[~named.index.duplicated(keep="last")]
    table = named if clients is None else named.reindex(pd.Index(list(clients)).unique())
    columns = [
        table[name] if name in table else pd.Series(None, index=table.index, dtype=object)
        for name in ("segment", "favourite_country")
    ]
    pairs = zip(*(c.astype(object).where(c.notna(), None) for c in columns), strict=True)
    return {str(c): (_text(s), _text(n)) for c, (s, n) in zip(table.index, pairs, strict=True)}


def profile_of(features: Mapping[str, object]) -> Profile:
    """One client's profile from its features (a field missing or ``None``: unknown)."""
    return _text(features.get(FIELDS[0])), _text(features.get(FIELDS[1]))


def _text(value: object) -> str | None:
    # Interned: a million clients share a few segment and country strings.
    return None if value is None else sys.intern(str(value))
