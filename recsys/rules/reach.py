"""How many clients each analyst rule would reach, and with which offers."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import mode_by
from recsys.matrix import MatrixConfig, build_matrix
from recsys.rules.cross_sell import CrossSellRules

__all__ = ["client_countries", "preview"]


def client_countries(events: pd.DataFrame, clients: np.ndarray) -> np.ndarray:
    """Each client's most frequent country (``""`` when unknown)."""
    mode = mode_by(events, "client_id", "country")
    return mode.reindex(clients).fillna("").to_numpy(dtype=object)


def _category_map(events: pd.DataFrame) -> dict[str, str]:
    if "category" not in events.columns:
        return {}
    named = events[events["category"].notna()].drop_duplicates("item_id")
    return dict(zip(named["item_id"].astype(str), named["category"].astype(str), strict=True))


def preview(rules: CrossSellRules, events: pd.DataFrame, day: date) -> list[dict[str, Any]]:
    """Per rule: active on ``day``, clients reached, and clients per offer not yet bought.

    Clients' segments come from the feature store; without it, rules restricted
    to segments reach nobody here (reported as ``needs_segments``).
    """
    data = build_matrix(events, MatrixConfig(weighting="binary"))
    bought = data.matrix.tocsc()
    fired = (data.matrix @ rules.triggers(data.items, _category_map(events))).toarray() > 0
    countries = client_countries(events, data.clients.ids)
    report = []
    for r, rule in enumerate(rules.rules):
        in_country = np.isin(countries, rule.countries) if rule.countries else True
        reach = fired[:, r] & in_country & rule.valid_on(day) & (not rule.segments)
        offers = {}
        for item in rule.offer:
            column = data.items.lookup(item)
            owned = 0 if column is None else int(bought[:, column].toarray().ravel()[reach].sum())
            offers[item] = int(reach.sum()) - owned
        report.append(
            {
                "rule": rule.id,
                "active": rule.valid_on(day),
                "needs_segments": bool(rule.segments),
                "clients": int(reach.sum()),
                "offers": offers,
                "reason": rule.reason,
            }
        )
    return report
