"""One catalogue entry: what the storefront sells, and when it may be offered."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys._fields import JsonDateTime

__all__ = ["MAX_TAGS", "CatalogueItem", "utc"]

#: Tags per item, and characters per id, title or tag (bounded like every input).
MAX_TAGS = 50
_TEXT = 500


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC time (a naive one is read as UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CatalogueItem(BaseModel):
    """An item as the catalogue describes it. Titles and categories given here win
    over those learnt from events."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    item_id: str = Field(min_length=1, max_length=128)
    """The item's id, as events name it."""
    title: str | None = Field(default=None, max_length=_TEXT)
    """Display title (runs of whitespace collapsed)."""
    category: str | None = Field(default=None, min_length=1, max_length=128)
    """The item's category (filters, diversity, new-item neighbours)."""
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Current unit price (``price_min``/``price_max`` filters)."""
    available: bool = True
    """False: out of stock, never offered until set true again."""
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)
    """Free labels (``tags`` filter, new-item neighbours)."""
    available_from: JsonDateTime | None = None
    """Not offered before this moment (UTC when no zone is given)."""
    available_until: JsonDateTime | None = None
    """Not offered from this moment on (UTC when no zone is given)."""
    deleted: bool = False
    """Discontinued (``DELETE``): never offered; a later upsert revives it."""
    added_at: JsonDateTime | None = None
    """When the catalogue first knew the item (newest arrivals first); set on upsert."""

    @field_validator("title")
    @classmethod
    def _collapse(cls, title: str | None) -> str | None:
        return None if title is None else " ".join(title.split()) or None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        if any(not 0 < len(t) <= 128 for t in tags):
            raise ValueError("tags must be 1 to 128 characters each")
        return tuple(dict.fromkeys(tags))  # order kept, repeats dropped

    @field_validator("available_from", "available_until", "added_at")
    @classmethod
    def _aware(cls, moment: datetime | None) -> datetime | None:
        return utc(moment)

    def sellable(self, now: datetime) -> bool:
        """Whether the item may be offered at ``now``."""
        if self.deleted or not self.available:
            return False
        if self.available_from is not None and now < self.available_from:
            return False
        return self.available_until is None or now < self.available_until
