"""Every client feature, declared once: name, type, description, how it is computed.

All features of a table are computed "as of" a date from events strictly before it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FEATURES", "SEGMENT_RULES", "Feature"]


@dataclass(frozen=True)
class Feature:
    """One column of the client feature table."""

    name: str
    dtype: str
    description: str
    computation: str


FEATURES: tuple[Feature, ...] = (
    Feature(
        "recency_days",
        "float",
        "Days since the last purchase",
        "(as_of − last purchase timestamp) in days",
    ),
    Feature(
        "frequency",
        "int",
        "Distinct orders",
        "non-cancelled orders with at least one product line of positive quantity",
    ),
    Feature(
        "monetary",
        "float",
        "Net spend",
        "Σ quantity × price over purchases and returns with a price; empty without prices",
    ),
    Feature(
        "average_check",
        "float",
        "Average order value",
        "Σ quantity × price over purchase lines / frequency",
    ),
    Feature(
        "avg_days_between_orders",
        "float",
        "Purchase rhythm",
        "(last − first order) in days / (frequency − 1); empty for one order",
    ),
    Feature(
        "tenure_days", "float", "Days since the first purchase", "(as_of − first purchase) in days"
    ),
    Feature(
        "return_rate",
        "float",
        "Share of spend returned",
        "|Σ quantity × price of returns and cancellations| / purchase value",
    ),
    Feature(
        "favourite_item", "str", "Most bought item", "item with the largest purchased quantity"
    ),
    Feature("favourite_country", "str", "Usual country", "most frequent country of purchase lines"),
    Feature(
        "favourite_category",
        "str",
        "Usual category",
        "most frequent category of purchase lines (empty when events carry none)",
    ),
    Feature("r_score", "int", "Recency quintile 1-5", "5 = most recent fifth of clients"),
    Feature("f_score", "int", "Frequency quintile 1-5", "5 = most frequent fifth (ties by rank)"),
    Feature(
        "m_score",
        "int",
        "Monetary quintile 1-5",
        "5 = highest-spending fifth (ties by rank); 0 = unknown (no prices)",
    ),
    Feature("segment", "str", "Named RFM segment", "first matching row of SEGMENT_RULES"),
    Feature(
        "churn_risk",
        "bool",
        "Overdue against the client's own rhythm",
        "recency > max(2 × avg_days_between_orders, 30) with 2+ orders; recency > 180 with one",
    ),
    Feature(
        "next_contact",
        "date",
        "Suggested next contact",
        "last purchase + avg_days_between_orders (one order: + 30 days), not before as_of",
    ),
    Feature(
        "last_orders",
        "list",
        "Latest orders, newest first",
        "up to 5 of {order_id, date, lines, value}",
    ),
    Feature(
        "manager",
        "str",
        "The client's sales manager",
        "manager on the client's latest line naming one (empty when events carry none); "
        "an assignment made on the CRM screen overrides it online",
    ),
)

#: Ordered (segment, R range, F range, M range): the first match names the client.
SEGMENT_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (4, 5), (4, 5), (1, 5)),
    ("can't lose", (1, 2), (4, 5), (4, 5)),
    ("loyal", (3, 5), (3, 5), (1, 5)),
    ("new", (4, 5), (1, 1), (1, 5)),
    ("potential loyalists", (3, 5), (1, 2), (1, 5)),
    ("at risk", (1, 2), (3, 5), (1, 5)),
    ("hibernating", (2, 2), (1, 2), (1, 5)),
    ("lost", (1, 1), (1, 2), (1, 5)),
)
