"""Request and response bodies of the API (one module, as pydantic models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from recsys._fields import JsonDate, JsonDateTime, JsonInt, bounded_int
from recsys.campaigns import Campaign
from recsys.catalogue import MAX_TAGS, CatalogueItem, ItemFilter
from recsys.feedback import Outcome
from recsys.ranking import MAX_K

#: Longest client, item, order id or category the API accepts.
MAX_ID = 128
#: Most ids in one list parameter (basket items, excluded items).
MAX_IDS = 200


class ReasonOut(BaseModel):
    """Why an item is recommended."""

    source: str
    text: str
    evidence: dict[str, Any]


class ItemOut(BaseModel):
    """One recommended item."""

    item_id: str
    title: str
    score: float
    reasons: list[ReasonOut]


class Recommendations(BaseModel):
    """A ranked, explained list."""

    recommendation_id: str
    """This response's id (also in ``X-Recommendation-Id``): send it back with the
    events that follow from the list (``POST /v1/events``)."""
    experiment: str | None = None
    """The experiment running for this client, if any."""
    arm: str | None = None
    """The client's arm in that experiment."""
    client_id: str | None = None
    model_version: str
    cached: bool
    stale: bool = False
    """Present and true when the list was computed for what was served before the last
    switch (model version, analyst rules, experiments; ``RECSYS_STALE_SECONDS``) while
    the new one is computed; also in the header ``X-Recommendation-Stale``."""
    degraded: bool = False
    """Present and true when the list could not be computed within the latency budget
    (``RECSYS_LIST_BUDGET_MS``): the segment's popular items, with the same filters;
    also in the header ``X-Recommendation-Degraded``. The real list is cached when ready."""
    items: list[ItemOut]


class Related(BaseModel):
    """Items bought together with / similar to one item."""

    recommendation_id: str
    item_id: str
    model_version: str
    items: list[ItemOut]


class BasketRequest(BaseModel):
    """Complete a basket, optionally for a known client."""

    model_config = ConfigDict(extra="forbid")

    items: list[str] = Field(min_length=0, max_length=MAX_IDS)
    client_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    k: JsonInt = Field(default=10, ge=1, le=MAX_K)
    category: list[Annotated[str, Field(min_length=1, max_length=MAX_ID)]] = Field(
        default=[], max_length=MAX_IDS
    )
    """Only these categories."""
    # strict (here and below): a JSON false or "2" is not a number, true or 1 not a bool
    price_min: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True)
    """Lowest price (items without a known price fail a price filter)."""
    price_max: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True)
    """Highest price."""
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_ID)]] = Field(
        default=[], max_length=MAX_IDS
    )
    """Any of these tags."""

    def filters(self) -> ItemFilter:
        """The request's item filters."""
        return ItemFilter(tuple(self.category), self.price_min, self.price_max, tuple(self.tags))


class EventIn(BaseModel):
    """One event: a purchase, a view, a click or an add-to-cart."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["purchase", "view", "click", "add_to_cart"] = "purchase"
    client_id: str = Field(min_length=1, max_length=MAX_ID)
    item_id: str = Field(min_length=1, max_length=MAX_ID)
    order_id: str | None = Field(default=None, max_length=MAX_ID)
    timestamp: JsonDateTime | None = None
    # strict: a JSON true or "2" is not a number (the schema says number)
    quantity: float = Field(default=1.0, gt=0, le=1_000_000, strict=True)
    price: float | None = Field(default=None, ge=0, le=10_000_000, strict=True)
    event_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    """Idempotency key: a client that retries a batch it got no answer for sends the
    same ids, and training counts each event once. Assigned by the service when absent."""
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    """The list this event follows from (its ``recommendation_id``): attributed to it.
    A purchase without one is attributed to the last list that showed the item to the
    client within the attribution window."""
    position: bounded_int(1, MAX_K) | None = None  # type: ignore[valid-type]
    """1-based place of the item in that list."""


class EventsIn(BaseModel):
    """A batch of events."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    """How many events were stored durably."""

    accepted: int


class GateCheck(BaseModel):
    """One check of the retrain gate."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    status: str
    """``pass``, ``FAIL`` or ``skipped``."""
    detail: str


class RetrainInfo(BaseModel):
    """What ``recsys retrain`` decided about a bundle (its ``retrain.json``); a part
    the file does not hold is ``null`` (or empty)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    decision: str | None
    """``promoted``, ``rejected`` or ``dry-run``."""
    reasons: list[str]
    """Why it was rejected (or promoted anyway): one line per failed check."""
    checks: list[GateCheck]
    backtest: dict[str, Any] | None
    """Candidate and production on the same held-out days: ``ndcg@10``, ``coverage@10``
    of each, and the paired ``difference`` with its ``ci95``."""
    diff: dict[str, Any] | None
    """What it changed from production (``recsys diff-versions``): clients, items and
    rules added/removed/changed, ``lists_changed_share``, ``rank_biased_overlap``,
    ``coverage``."""
    production: str | None = None
    """The version it was compared against."""
    decided_at: str | None = None


class ModelInfo(BaseModel):
    """The bundle being served."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    version: str
    created_at: str
    age_seconds: float
    """Seconds since ``created_at`` (the real clock)."""
    data_fingerprint: str
    clients: int
    items: int
    models: list[str]
    metrics: dict[str, float]
    notes: dict[str, str] = {}  # model → what its fit left out (EASE above max_items)
    retrain: RetrainInfo | None = None
    """The retrain gate's record; ``null`` for a bundle ``recsys retrain`` did not make."""


class OrderOut(BaseModel):
    """One past order."""

    order_id: str
    date: str
    lines: int
    value: float | None  # None: no line of the order has a price


class NextBestOffers(BaseModel):
    """The CRM view of a client."""

    recommendation_id: str
    experiment: str | None = None
    arm: str | None = None
    client_id: str
    model_version: str
    profile: dict[str, Any] | None
    offers: list[ItemOut]
    last_orders: list[OrderOut]
    next_contact: str | None
    offer_history: list[Outcome] = []
    """What the client said to earlier offers, newest first."""


class ErrorOut(BaseModel):
    """The body of every 4xx/5xx the service answers itself."""

    detail: Any
    """What was wrong: a sentence, or FastAPI's list of invalid fields (422)."""


#: Documented on every route that checks an API key.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "X-API-Key header missing (keys configured)"},
    403: {
        "model": ErrorOut,
        "description": (
            "X-API-Key not valid for this route, or (no key carries its scope) "
            "a caller other than loopback"
        ),
    },
}

#: Documented on every route that reads a JSON body.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not JSON (or not UTF-8)"},
    413: {"model": ErrorOut, "description": "the body is larger than max_body_bytes"},
}


class RulesAccepted(BaseModel):
    """New analyst rules in force."""

    version: str
    """The version the rules file declares."""
    rules: int
    """How many rules."""
    cache_version: str
    """What cached lists are keyed by from now on (bundle version and a digest of the rules)."""


class ItemIn(BaseModel):
    """A catalogue entry as ``PUT /v1/items/{item_id}`` takes it (every field optional)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    title: str | None = Field(default=None, max_length=500)
    """Display title (wins over the one learnt from events)."""
    category: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    """Category (wins over the one learnt from events)."""
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True)
    """Current unit price."""
    available: bool = Field(default=True, strict=True)
    """False: out of stock; the item leaves every list until set true again."""
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_ID)]] = Field(
        default=[], max_length=MAX_TAGS
    )
    """Free labels (``tags`` filter; neighbours of new items)."""
    available_from: JsonDateTime | None = None
    """Not offered before (ISO 8601; UTC when no zone is given)."""
    available_until: JsonDateTime | None = None
    """Not offered from this moment on."""

    def item(self, item_id: str) -> CatalogueItem:
        """The catalogue item ``item_id`` this body describes."""
        return CatalogueItem(item_id=item_id, **self.model_dump())


class ItemWithId(ItemIn):
    """One entry of ``POST /v1/items/batch``."""

    item_id: str = Field(min_length=1, max_length=MAX_ID)
    """The item's id, as events name it."""

    def item(self, item_id: str) -> CatalogueItem:
        """The catalogue item this entry describes."""
        return CatalogueItem(**self.model_dump())


class ItemBatch(BaseModel):
    """Up to 10,000 catalogue upserts."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemWithId] = Field(max_length=10_000)


class Upserted(BaseModel):
    """How many items a batch stored."""

    upserted: int


class Deleted(BaseModel):
    """A client's data was deleted."""

    deleted: bool


class _OutcomeFields(BaseModel, extra="forbid", use_attribute_docstrings=True):
    """Every outcome's fields; one schema per kind, so the OpenAPI schema says what each needs."""

    outcome: str  # each kind narrows it to its tags
    channel: str = Field(min_length=1, max_length=32)
    """How the offer was made: ``call``, ``email``, ``visit``…"""
    reason: str | None = Field(default=None, max_length=500)
    """Free text, shown in the offer history."""
    until: JsonDate | None = None
    """The day a postponed offer comes back (required with ``postponed``)."""
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    """The list the offer came from, when known."""


class SettledIn(_OutcomeFields):
    """An accepted offer (a conversion) or a declined one (held back for the cool-down)."""

    outcome: Literal["accepted", "declined"]


class PostponedIn(_OutcomeFields):
    """A postponed offer: held back until ``until``, which it requires."""

    outcome: Literal["postponed"]
    until: JsonDate = Field(description="The day the offer comes back.")


# A RootModel: the body is the union itself; its fields are on ``.root``.
class OutcomeIn(RootModel[Annotated[SettledIn | PostponedIn, Field(discriminator="outcome")]]):
    """What the client said to an offer: ``postponed`` requires ``until``."""


class Recorded(BaseModel):
    """An outcome was stored."""

    recorded: bool
    held_back_until: datetime | None
    """Until when the item is not offered to this client (none for accepted)."""


class OfferHistory(BaseModel):
    """A client's offer outcomes, newest first."""

    client_id: str
    outcomes: list[Outcome]


class AudienceMemberOut(BaseModel):
    """One client of an item's audience."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    client_id: str
    rank: int
    """1 for the client most likely to buy."""
    score: float
    """The blend's score for the item × the client's purchases: it orders the list,
    its scale means nothing by itself."""
    reason: ReasonOut
    """Why this client: the source with the largest share in the score, said aloud."""


class ItemAudience(BaseModel):
    """The clients most likely to buy an item, best first (see docs/how-to/audiences.md)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    item_id: str
    model_version: str
    day: str
    """The day purchases were judged due on (the service's day), YYYY-MM-DD."""
    segment: str | None
    clients: list[AudienceMemberOut]
    """At most ``k``; fewer when fewer clients may be asked, none for an item the
    models have not learnt yet or the catalogue marks unavailable."""


class CampaignOut(BaseModel):
    """A campaign: its definition and its last build's report."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    definition: Campaign
    build: dict[str, Any] | None
    """The last build's report as ``recsys campaign build`` wrote it (``built_at``,
    ``members``, ``treatment``, ``holdout``, ``over_cap``…); null before the first."""


class CampaignSummary(BaseModel):
    """One campaign of the list."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    channel: str | None = None
    start: date | None = None
    end: date | None = None
    """The first day after the campaign."""
    built_at: str | None = None
    """When it was last built (null: never)."""
    members: int | None = None
    treatment: int | None = None
    holdout: int | None = None
    over_cap: int | None = None
    """Clients left out of the last build for the contact cap."""
    problem: str | None = None
    """Why the definition could not be read (then only the name is given)."""


class CampaignOfferOut(BaseModel):
    """An item a campaign offers a client, with the reason said."""

    item_id: str
    reason: str


class ClientCampaign(BaseModel):
    """A campaign a client is a member of."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    channel: str
    group: str
    """``treatment``: to be contacted; ``holdout``: kept out of the campaign (not to be
    contacted for it)."""
    start: date
    end: date
    offers: list[CampaignOfferOut]
