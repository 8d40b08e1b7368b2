"""Association rules: exact metrics against brute force and against mlxtend."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import association_rules, fpgrowth
from typer.testing import CliRunner

from recsys.data import load_events
from recsys.rules import RulesConfig, build_baskets, mine_rules, rules_table
from training.cli import app

BASKETS = [
    {"bread", "milk"},
    {"bread", "butter", "milk"},
    {"bread", "butter"},
    {"beer", "crisps"},
    {"bread", "butter", "milk", "jam"},
    {"milk"},
    {"beer", "crisps", "bread"},
    {"butter", "jam"},
]


def events_of(baskets: list[set[str]]) -> pd.DataFrame:
    rows = [(f"o{i}", item) for i, basket in enumerate(baskets) for item in sorted(basket)]
    frame = pd.DataFrame(rows, columns=["order_id", "item_id"])
    return frame.assign(
        order_id=frame["order_id"].astype("category"),
        item_id=frame["item_id"].astype("category"),
        client_id=pd.Categorical([None] * len(frame), categories=["x"]),
    )


def brute_force(baskets: list[set[str]], config: RulesConfig) -> dict[tuple[str, str], dict]:
    """Count every itemset and every split straight from the baskets."""
    n = len(baskets)

    def supp(items: frozenset[str]) -> float:
        return sum(items <= b for b in baskets) / n

    universe = sorted(set().union(*baskets))
    rules = {}
    for size in range(2, len(universe) + 1):
        for itemset in map(frozenset, itertools.combinations(universe, size)):
            s = supp(itemset)
            if s < config.min_support:
                continue
            for k in range(1, size):
                for ant in map(frozenset, itertools.combinations(sorted(itemset), k)):
                    cons = itemset - ant
                    conf, cs = s / supp(ant), supp(cons)
                    row = {
                        "support": s,
                        "confidence": conf,
                        "lift": conf / cs,
                        "leverage": s - supp(ant) * cs,
                        "conviction": np.inf if conf == 1 else (1 - cs) / (1 - conf),
                        "antecedent_support": supp(ant),
                        "consequent_support": cs,
                    }
                    if (
                        conf >= config.min_confidence
                        and (config.min_leverage is None or row["leverage"] >= config.min_leverage)
                        and (config.min_lift is None or row["lift"] >= config.min_lift)
                    ):
                        rules[("|".join(sorted(ant)), "|".join(sorted(cons)))] = row
    return rules


def as_dict(table: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {
        (r["antecedents"], r["consequents"]): r.drop(["antecedents", "consequents"]).to_dict()
        for _, r in table.iterrows()
    }


@pytest.mark.parametrize(
    "config",
    [
        RulesConfig(min_support=0.25, min_confidence=0.5),
        RulesConfig(min_support=0.125, min_confidence=0.0),
        RulesConfig(min_support=0.125, min_confidence=0.3, min_leverage=0.05),
        RulesConfig(min_support=0.125, min_confidence=0.3, min_lift=2.0),
    ],
)
def test_every_metric_matches_brute_force(config: RulesConfig) -> None:
    baskets = build_baskets(events_of(BASKETS))
    got = as_dict(rules_table(mine_rules(baskets, config), baskets.items))
    expected = brute_force(BASKETS, config)
    assert set(got) == set(expected)
    for key, metrics in expected.items():
        assert got[key] == pytest.approx(metrics), key


def test_hand_worked_rule() -> None:
    # butter → bread: butter in 4 baskets, with bread in 3; bread in 5 of 8.
    baskets = build_baskets(events_of(BASKETS))
    table = rules_table(
        mine_rules(baskets, RulesConfig(min_support=0.1, min_confidence=0.1)), baskets.items
    )
    row = table[(table["antecedents"] == "butter") & (table["consequents"] == "bread")].iloc[0]
    assert row["support"] == pytest.approx(3 / 8)
    assert row["confidence"] == pytest.approx(3 / 4)
    assert row["lift"] == pytest.approx((3 / 4) / (5 / 8))
    assert row["leverage"] == pytest.approx(3 / 8 - (4 / 8) * (5 / 8))
    assert row["conviction"] == pytest.approx((1 - 5 / 8) / (1 - 3 / 4))


def test_max_len_bounds_itemsets() -> None:
    baskets = build_baskets(events_of(BASKETS))
    rules = mine_rules(baskets, RulesConfig(min_support=0.1, min_confidence=0.0, max_len=2))
    sizes = rules["antecedents"].map(len) + rules["consequents"].map(len)
    assert sizes.max() == 2
    assert (
        mine_rules(baskets, RulesConfig(min_support=0.1, min_confidence=0.0))["antecedents"].map(
            len
        )
        == 2
    ).any()


def test_matches_mlxtend_on_sample_data(sample_data: Path) -> None:
    events = load_events(sample_data, "online-retail").events
    baskets = build_baskets(events)
    config = RulesConfig(min_support=0.02, min_confidence=0.3)
    ours = as_dict(rules_table(mine_rules(baskets, config), baskets.items))
    onehot = pd.DataFrame.sparse.from_spmatrix(
        baskets.matrix.astype(bool), columns=baskets.items.ids.tolist()
    )
    itemsets = fpgrowth(onehot, min_support=0.02, use_colnames=True)
    theirs = association_rules(itemsets, baskets.count, metric="confidence", min_threshold=0.3)
    assert len(ours) == len(theirs) > 50
    for _, row in theirs.iterrows():
        key = ("|".join(sorted(row["antecedents"])), "|".join(sorted(row["consequents"])))
        mine = ours[key]
        for ours_name, their_name in [
            ("support", "support"),
            ("confidence", "confidence"),
            ("lift", "lift"),
            ("leverage", "leverage"),
            ("antecedent_support", "antecedent support"),
            ("consequent_support", "consequent support"),
        ]:
            assert mine[ours_name] == pytest.approx(row[their_name]), (key, ours_name)


def test_rules_cli_writes_csv_and_parquet(sample_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("rules.csv", "rules.parquet"):
        out = tmp_path / name
        args = ["rules", "--events", str(sample_data), "--format", "online-retail"]
        args += ["--min-support", "0.02", "--min-confidence", "0.5", "--min-leverage", "0.01"]
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "rules mined" in result.output
        table = pd.read_csv(out) if name.endswith("csv") else pd.read_parquet(out)
        assert list(table.columns[:3]) == ["antecedents", "consequents", "support"]
        assert (table["confidence"] >= 0.5).all() and (table["leverage"] >= 0.01).all()
        assert all(a.split("|") == sorted(a.split("|")) for a in table["antecedents"].astype(str))
    bad = runner.invoke(
        app,
        [
            "rules",
            "--events",
            str(sample_data),
            "--format",
            "online-retail",
            "--min-support",
            "0",
            "--out",
            str(tmp_path / "r.csv"),
        ],
    )
    assert bad.exit_code == 4 and "min_support" in bad.output
