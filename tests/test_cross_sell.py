"""Analyst cross-sell rules: validation names the rule and field; reach by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys.errors import ConfigError
from recsys.rules.cross_sell import load_cross_sell
from recsys.rules.reach import preview
from training.cli import app

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
version: "7"
rules:
  - id: tea
    if_bought: {items: [cup]}
    offer: [saucer, spoon]
    reason: Cups need saucers
    priority: 3
    countries: [UK]
  - id: winter
    if_bought: {items: [scarf]}
    offer: [gloves]
    reason: Winter campaign
    valid_from: 2024-12-01
    valid_to: 2024-12-31
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (GOOD.replace("offer: [gloves]", "offer: []"), ["rule 'winter'", "field offer"]),
        (GOOD.replace("priority: 3", "priority: high"), ["rule 'tea'", "field priority"]),
        (
            GOOD.replace("valid_to: 2024-12-31", "valid_to: 2024-11-01"),
            ["rule 'winter'", "valid_from is after valid_to"],
        ),
        (
            GOOD.replace("if_bought: {items: [cup]}", "if_bought: {}"),
            ["rule 'tea'", "at least one item"],
        ),
        (
            GOOD.replace("    reason: Cups need saucers\n", "    reason: Cups\n    colour: red\n"),
            ["rule 'tea'", "field colour"],
        ),
        (GOOD.replace("id: winter", "id: tea"), ["appears twice"]),
        ("rules: [", ["cannot read rules file"]),
    ],
)
def test_validation_errors_name_rule_and_field(
    tmp_path: Path, text: str, needles: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_cross_sell(write(tmp_path, text))
    for needle in needles:
        assert needle in str(caught.value)


def test_json_files_load_too(tmp_path: Path) -> None:
    import json

    import yaml

    path = write(tmp_path, json.dumps(yaml.safe_load(GOOD), default=str), "rules.json")
    rules = load_cross_sell(path)
    assert [r.id for r in rules.rules] == ["tea", "winter"] and rules.version == "7"


def test_validity_and_targeting() -> None:
    rule = load_cross_sell(ROOT / "examples" / "cross_sell.yaml").rules[2]
    assert rule.valid_on(date(2010, 11, 1)) and not rule.valid_on(date(2011, 1, 1))
    tea = load_cross_sell(ROOT / "examples" / "cross_sell.yaml").rules[1]
    assert tea.applies(date(2020, 1, 1), country="United Kingdom")
    assert not tea.applies(date(2020, 1, 1), country="France")


EVENTS = pd.DataFrame(
    [  # client, item, country
        ("a", "cup", "UK"),
        ("a", "saucer", "UK"),
        ("b", "cup", "UK"),
        ("c", "cup", "FR"),
        ("d", "scarf", "UK"),
    ],
    columns=["client_id", "item_id", "country"],
).assign(order_id="o", timestamp=pd.Timestamp("2024-12-10"), quantity=1.0, price=1.0)


def test_preview_by_hand(tmp_path: Path) -> None:
    rules = load_cross_sell(write(tmp_path, GOOD))
    events = EVENTS.astype({"client_id": "category", "item_id": "category", "country": "category"})
    report = {row["rule"]: row for row in preview(rules, events, date(2024, 12, 10))}
    # tea fires for a and b (UK; c is French): a owns the saucer already.
    assert report["tea"]["clients"] == 2
    assert report["tea"]["offers"] == {"saucer": 1, "spoon": 2}
    assert report["winter"]["clients"] == 1 and report["winter"]["offers"] == {"gloves": 1}
    later = {row["rule"]: row for row in preview(rules, events, date(2025, 1, 10))}
    assert later["winter"]["clients"] == 0 and not later["winter"]["active"]


def test_preview_cli(sample_data: Path) -> None:
    args = ["rules", "preview", "--cross-sell", str(ROOT / "examples" / "cross_sell.yaml")]
    args += ["--events", str(sample_data), "--format", "online-retail"]
    result = CliRunner().invoke(app, [*args, "--date", "2010-11-15", "--json"])
    assert result.exit_code == 0, result.output
    assert '"rule": "lights-to-spare-bulbs"' in result.output
    bad = CliRunner().invoke(app, [*args, "--date", "15/11/2010"])
    assert bad.exit_code == 4 and "YYYY-MM-DD" in bad.output
