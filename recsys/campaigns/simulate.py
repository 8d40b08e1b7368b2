"""A campaign replayed on history: built before a cut-off, read after it.

The audience is every client who bought before the cut-off; each is offered its
items bought on the most distinct days (ties: the latest), as P-Pop ranks them, and
split by the campaign's hash (salted with the seed). Nobody was contacted, so the
report should find no effect (an A/A reading): its intervals should cover 0 in about
95 % of seeds. :func:`inject_uplift` raises the treatment's purchases in the window
by a known share in a copy of the events, so a team sees what the report finds when
there is an effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.campaigns.effect import campaign_effect
from recsys.campaigns.groups import TREATMENT, groups

__all__ = ["inject_uplift", "simulate", "simulated_members"]


def simulated_members(
    events: pd.DataFrame, cutoff: pd.Timestamp, seed: int, holdout: float, offers: int = 3
) -> pd.DataFrame:
    """The simulated campaign's members: every client who bought before ``cutoff``."""
    before = events[(events["timestamp"] < cutoff) & (events["quantity"] > 0)]
    before = before[before["client_id"].notna()]
    days = before.assign(
        client_id=before["client_id"].astype(str),
        item_id=before["item_id"].astype(str),
        day=before["timestamp"].dt.floor("D"),
    )
    per = days.groupby(["client_id", "item_id"], observed=True)["day"].agg(["nunique", "max"])
    per = per.reset_index().sort_values(
        ["client_id", "nunique", "max", "item_id"], ascending=[True, False, False, True]
    )
    top = per.groupby("client_id", sort=True).head(offers)
    lists = top.groupby("client_id", sort=True)["item_id"].agg(list)
    clients = lists.index.tolist()
    return pd.DataFrame(
        {
            "client_id": clients,
            "group": groups(f"simulation-{seed}", clients, holdout),
            "channel": "email",
            "segment": None,
            "offers": lists.tolist(),
        }
    )


def inject_uplift(
    events: pd.DataFrame,
    members: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    uplift: float,
) -> pd.DataFrame:
    """A copy of ``events`` where each treatment member's purchases in ``[start,
    end)`` are worth ``1 + uplift`` times as much (their price raised: revenue moves,
    buyers and orders do not)."""
    treated = members.loc[members["group"] == TREATMENT, "client_id"].astype(str)
    stamps = events["timestamp"]
    inside = (stamps >= start) & (stamps < end) & (events["quantity"] > 0)
    chosen = inside & events["client_id"].astype(str).isin(set(treated)).to_numpy()
    out = events.copy()
    out["price"] = np.where(chosen, out["price"] * (1 + uplift), out["price"])
    return out


def simulate(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    days: int = 28,
    holdout: float = 10.0,
    uplift: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """The report of a campaign built on the events before ``cutoff`` and read over the
    ``days`` after it, with ``uplift`` injected (0: an A/A reading)."""
    stamps = events["timestamp"]
    if getattr(stamps.dtype, "tz", None) is None:  # naive times are UTC
        events = events.assign(timestamp=stamps.dt.tz_localize("UTC"))
    cutoff = pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
    members = simulated_members(events, cutoff, seed, holdout)
    end = cutoff + pd.Timedelta(days=days)
    if uplift:
        events = inject_uplift(events, members, cutoff, end, uplift)
    return campaign_effect(members, events, cutoff, end, holdout, by=())
