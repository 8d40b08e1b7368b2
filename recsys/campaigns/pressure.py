"""Contact pressure: a client is in at most N contacts per D days, across campaigns and
channels.

Contacts are the treatment members of every campaign built (at the campaign's start:
the day its list goes out) and every outcome a manager logged (at its time). A new
contact at ``t`` is refused when N contacts already lie within D days of it on either
side, so campaigns planned for later count as much as those that went out earlier.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

__all__ = ["CONTACT_COLUMNS", "contacts_near", "over_cap"]

#: The contacts table: who was contacted, when, by which campaign (or ``outcome``) and
#: channel.
CONTACT_COLUMNS = ("client_id", "at", "campaign", "channel")


def contacts_near(
    contacts: pd.DataFrame, clients: np.ndarray, at: pd.Timestamp, days: int
) -> np.ndarray:
    """Per client of ``clients``, its contacts within ``days`` days of ``at`` (either
    side, the bounds excluded)."""
    if contacts.empty:
        return np.zeros(len(clients), dtype=np.int64)
    stamps = pd.to_datetime(contacts["at"], utc=True, format="ISO8601")
    near = (stamps - at).abs() < pd.Timedelta(timedelta(days=days))
    counts = contacts.loc[near.to_numpy(), "client_id"].astype(str).value_counts()
    return counts.reindex(pd.Index(clients, dtype=object)).fillna(0).to_numpy(dtype=np.int64)


def over_cap(
    contacts: pd.DataFrame, clients: np.ndarray, at: pd.Timestamp, cap: int, days: int
) -> np.ndarray:
    """Per client, whether one more contact at ``at`` would exceed ``cap`` contacts
    within ``days`` days."""
    return contacts_near(contacts, clients, at, days) >= cap
