"""Association rules mined from baskets, and analyst cross-sell rules."""

from recsys.rules.baskets import Baskets, build_baskets
from recsys.rules.export import RULE_COLUMNS, rules_table, write_rules
from recsys.rules.index import RuleIndex
from recsys.rules.mining import (
    Itemsets,
    RulesConfig,
    frequent_itemsets,
    min_count,
    mine_rules,
    rules_from_itemsets,
)

__all__ = [
    "RULE_COLUMNS",
    "Baskets",
    "Itemsets",
    "RuleIndex",
    "RulesConfig",
    "build_baskets",
    "frequent_itemsets",
    "min_count",
    "mine_rules",
    "rules_from_itemsets",
    "rules_table",
    "write_rules",
]
