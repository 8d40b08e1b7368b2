"""A campaign as data: whom to contact, with what, by which channel, when, and who is
held out.

Written as YAML (``recsys campaign build``) or sent as JSON (``PUT
/v1/campaigns/{name}``); both go through :class:`Campaign`, so a bad field is refused
the same way in both places: a 422 naming the field, or exit code 4 naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recsys._fields import JsonDate, JsonInt
from recsys.errors import ConfigError

__all__ = ["NAME_PATTERN", "AudienceSpec", "Campaign", "OfferSpec", "load_campaign", "parse"]

#: Campaign names: they name files and URL paths.
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
AudienceKind = Literal["item", "category", "tag", "segment", "churn_risk", "repeat_due", "clients"]
_NEEDS_VALUE = frozenset({"item", "category", "tag", "segment"})
ClientId = Annotated[str, Field(min_length=1, max_length=128)]
ItemId = Annotated[str, Field(min_length=1, max_length=128)]


class AudienceSpec(BaseModel):
    """Who the campaign is for."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: AudienceKind
    """``item``, ``category`` or ``tag``: the clients most likely to buy it (the
    blend read by item); ``segment``: an RFM segment's clients; ``churn_risk``: clients
    overdue against their own rhythm; ``repeat_due``: clients with a bought item due
    again; ``clients``: the ``clients`` list given."""
    value: str | None = Field(default=None, min_length=1, max_length=128)
    """The item id, category, tag or segment (the kinds that need one)."""
    clients: list[ClientId] | None = Field(default=None, min_length=1, max_length=1_000_000)
    """An uploaded client list (``kind: clients``)."""
    segment: str | None = Field(default=None, min_length=1, max_length=64)
    """Only clients of this RFM segment (any kind)."""
    size: JsonInt = Field(default=1000, ge=1, le=1_000_000)
    """At most this many clients, the most likely first (an uploaded list: all of it
    unless given)."""

    @model_validator(mode="after")
    def _complete(self) -> AudienceSpec:
        if self.kind in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"value: audience kind {self.kind!r} needs a value")
        if self.kind == "clients" and not self.clients:
            raise ValueError("clients: audience kind 'clients' needs the client list")
        if self.kind != "clients" and self.clients is not None:
            raise ValueError("clients: only audience kind 'clients' takes a client list")
        if self.kind == "clients" and "size" not in self.model_fields_set:
            self.size = len(self.clients or [])  # an upload is cut only when asked
        return self


class OfferSpec(BaseModel):
    """What each contacted client is offered."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    items: list[ItemId] | None = Field(default=None, min_length=1, max_length=20)
    """The same items for every client; absent: an item or category audience offers
    the client's most likely target, any other audience each client's next-best
    offers."""
    next_best: JsonInt = Field(default=3, ge=1, le=20)
    """How many next-best offers per client (when ``items`` is absent)."""


class Campaign(BaseModel):
    """One campaign."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    """The campaign's name (part of the holdout hash: renaming reshuffles the groups)."""
    audience: AudienceSpec
    """Who it is for."""
    offer: OfferSpec = OfferSpec()
    """What they are offered."""
    channel: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
    """How clients are contacted: ``email``, ``sms``, ``call``, ``push`` or another word."""
    start: JsonDate
    """First day of the campaign (UTC): the effect is read from this day on."""
    end: JsonDate
    """First day after it: the effect window is ``[start, end)``."""
    holdout: float = Field(default=10.0, ge=0, le=50)
    """Percent of the audience kept out, by a hash of campaign and client."""
    contact_cap: JsonInt | None = Field(default=None, ge=1, le=100)
    """At most this many contacts per client in the pressure window, across campaigns
    and channels (counting this one); absent: the service's setting."""

    @model_validator(mode="after")
    def _dated(self) -> Campaign:
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


def parse(raw: object, where: str) -> Campaign:
    """A campaign from parsed YAML or JSON; a bad field: :class:`ConfigError` naming
    it (``where``: the file or request it came from)."""
    try:
        return Campaign.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{where}: {_first(error)}") from None


def _first(error: ValidationError) -> str:
    """The first problem as ``field: message``; a check across fields names its field
    at the start of its message (``"end: must be after start"``), joined to the path."""
    first = error.errors()[0]
    path = [str(p) for p in first["loc"]]
    message = str(first["msg"])
    named = re.match(r"Value error, ([a-z_]+): (.*)", message, re.DOTALL)
    if first["type"] == "value_error" and named:
        path, message = [*path, named[1]], named[2]
    return f"{'.'.join(path) or 'campaign'}: {message}"


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign YAML file (errors name the file and field)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the campaign ({error})") from None
    return parse(raw, str(path))
