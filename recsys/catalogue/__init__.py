"""The catalogue: what may be offered, items the last training never saw, filters.

Core library only (no Redis, no web): ``serving.catalogue`` stores and shares it.
"""

from recsys.catalogue._catalogue import Catalogue
from recsys.catalogue._facts import ItemFacts, ItemFilter
from recsys.catalogue._import import CATALOGUE_COLUMNS, read_items
from recsys.catalogue._item import MAX_TAGS, CatalogueItem, utc

__all__ = [
    "CATALOGUE_COLUMNS",
    "MAX_TAGS",
    "Catalogue",
    "CatalogueItem",
    "ItemFacts",
    "ItemFilter",
    "read_items",
    "utc",
]
