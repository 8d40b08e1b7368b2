"""What a manager did with an offer, and what it means for the next lists.

A declined offer is not offered to that client again for a cool-down; a postponed
one comes back on its date; an accepted one counts as a conversion of the list
(and source) that showed it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys._fields import JsonDate, JsonDateTime
from recsys.catalogue import utc

__all__ = ["Outcome", "OutcomeBook"]


class Outcome(BaseModel):
    """One manager outcome of an offer."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    client_id: str = Field(min_length=1, max_length=128)
    """The client the offer was made to."""
    item_id: str = Field(min_length=1, max_length=128)
    """The offered item."""
    outcome: Literal["accepted", "declined", "postponed"]
    """What the client said."""
    channel: str = Field(min_length=1, max_length=32)
    """How the offer was made: ``call``, ``email``, ``visit`` or another word."""
    reason: str | None = Field(default=None, max_length=500)
    """Free text, shown in the offer history."""
    until: JsonDate | None = None
    """Postponed: the day the offer comes back (required then)."""
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=128)
    """The list the offer came from, when known (else the last list that showed it)."""
    at: JsonDateTime
    """When the outcome was recorded (UTC)."""
    by: str | None = Field(default=None, min_length=1, max_length=100)
    """Who recorded it, as the service names its caller: ``user:ann``, ``key:crm-sync``,
    ``local`` or ``open``; ``None`` on outcomes recorded before callers were named."""

    @model_validator(mode="after")
    def _dated(self) -> Outcome:
        if self.outcome == "postponed" and self.until is None:
            raise ValueError("until: required when the outcome is postponed")
        return self

    def blocks_until(self, cooldown: timedelta) -> datetime | None:
        """Until when the item is not offered to the client (``None``: not blocked)."""
        at = utc(self.at) or self.at
        if self.outcome == "declined":
            return at + cooldown
        if self.outcome == "postponed" and self.until is not None:
            return datetime.combine(self.until, time.min, tzinfo=at.tzinfo)
        return None


class OutcomeBook:
    """Every client's outcomes, newest last; which offers are held back now."""

    def __init__(self, cooldown: timedelta = timedelta(days=60)) -> None:
        self.cooldown = cooldown
        self._by_client: dict[str, list[Outcome]] = {}

    def record(self, outcome: Outcome) -> None:
        """Add one outcome."""
        self._by_client.setdefault(outcome.client_id, []).append(outcome)

    def history(self, client_id: str) -> list[Outcome]:
        """The client's outcomes, newest first, each naming who recorded it (``by``)."""
        return list(reversed(self._by_client.get(client_id, [])))

    def blocked(self, client_id: str, now: datetime) -> tuple[str, ...]:
        """Items not to offer the client at ``now``: the latest outcome per item decides
        (a later acceptance or a new postponement replaces a decline)."""
        latest: dict[str, Outcome] = {}
        for outcome in self._by_client.get(client_id, ()):
            latest[outcome.item_id] = outcome
        held = (
            i for i, o in latest.items() if (end := o.blocks_until(self.cooldown)) and now < end
        )
        return tuple(sorted(held))

    def forget(self, client_id: str) -> None:
        """Drop a deleted client's outcomes."""
        self._by_client.pop(client_id, None)
