"""``recsys audience`` and ``recsys evaluate --audiences``."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys.audience import audience
from recsys.bundle import Bundle
from recsys.catalogue import CatalogueItem
from recsys.privacy import client_hash
from recsys.ranking import HybridRecommender
from serving.catalogue import store_items
from tests.test_audience_api import DAY, most_bought
from training.cli import app as cli


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own: the service's stores default under it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audience", *args])
    return result.exit_code, result.output


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_writes_the_audience_as_csv(bundles: Path, bundle: Bundle, here: Path) -> None:
    item, out = most_bought(bundle), here / "out" / "audience.csv"
    code, said = run("--bundle", str(bundles), "--item", item, "--k", "12", "--out", str(out),
                     "--day", DAY.isoformat(), "--tombstones", str(here / "none.txt"))  # fmt: skip
    assert code == 0, said
    assert f"12 clients of item {item!r}" in said
    rows = read(out)
    assert list(rows[0]) == ["client_id", "rank", "score", "reason"]
    assert [int(r["rank"]) for r in rows] == list(range(1, 13)) and all(r["reason"] for r in rows)
    column = np.array([bundle.data.items.lookup(item)])
    core = audience(HybridRecommender(bundle, bundle.rules, None, today=lambda: DAY), column, 12)
    assert [r["client_id"] for r in rows] == [m.client_id for m in core.members]


def test_honours_tombstones_and_declined_offers(
    bundles: Path, bundle: Bundle, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item, out = most_bought(bundle), here / "a.csv"
    args = ["--bundle", str(bundles), "--item", item, "--k", "5", "--out", str(out)]
    args += ["--day", DAY.isoformat(), "--tombstones", str(here / "tombstones.txt")]
    assert run(*args)[0] == 0
    first = [r["client_id"] for r in read(out)]
    (here / "tombstones.txt").write_text(client_hash(first[0]) + "\n")
    outcome = {"client_id": first[1], "item_id": item, "outcome": "declined", "channel": "call"}
    record = {"id": "o1", "outcome": {**outcome, "at": "2011-01-07T10:00:00Z"}}
    (here / "outcomes.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    monkeypatch.setenv("RECSYS_OUTCOMES_PATH", str(here / "outcomes.jsonl"))
    assert run(*args)[0] == 0
    after = [r["client_id"] for r in read(out)]
    assert after[:3] == first[2:] and not {first[0], first[1]} & set(after)


def test_a_category_and_a_tag_from_the_catalogue(bundles: Path, bundle: Bundle, here: Path) -> None:
    items = [most_bought(bundle, 0), most_bought(bundle, 5)]
    described = [CatalogueItem(item_id=i, category="lights", tags=("gift",)) for i in items]
    store_items(described, here / "artifacts" / "catalogue.jsonl", None)
    for option, value in (("--category", "lights"), ("--tag", "gift")):
        out = here / f"{value}.csv"
        code, said = run("--bundle", str(bundles), option, value, "--k", "8", "--out", str(out),
                         "--day", DAY.isoformat())  # fmt: skip
        assert code == 0 and "(2 items)" in said, said
        rows = read(out)
        assert len(rows) == 8 and all(": " in r["reason"] for r in rows)  # "TITLE: why"


@pytest.mark.parametrize(
    ("args", "code", "named"),
    [
        ([], 4, "--item, --category, --tag"),
        (["--item", "NOPE"], 4, "--item: unknown item 'NOPE'"),
        (["--tag", "nothing-tagged"], 4, "--tag: no item"),
        (["--category", "ghosts"], 4, "--category: no item"),
        (["--item", "A", "--category", "B"], 4, "give exactly one"),
        (["--item", "85123A", "--segment", "vip"], 4, "--segment: unknown segment 'vip'"),
        (["--item", "85123A", "--segment", "loyal"], 4, "--segment: needs --features"),
        (["--item", "85123A", "--k", "0"], 2, "--k"),
        (["--item", "85123A", "--day", "2011-02-30"], 4, "--day"),
    ],
)
def test_bad_options_exit_non_zero_naming_them(
    bundles: Path, here: Path, args: list[str], code: int, named: str
) -> None:
    got, said = run("--bundle", str(bundles), "--out", str(here / "x.csv"), *args)
    assert got == code and named in said, said
    assert not (here / "x.csv").exists()


def test_an_unreadable_features_file_exits_4_naming_it(
    bundles: Path, bundle: Bundle, here: Path
) -> None:
    """The features give each client's segment and country: a file that is not
    parquet is named, never a traceback."""
    broken = here / "broken.parquet"
    broken.write_text("not parquet", encoding="utf-8")
    code, said = run("--bundle", str(bundles), "--item", most_bought(bundle), "--out",
                     str(here / "a.csv"), "--features", str(broken))  # fmt: skip
    assert code == 4 and "broken.parquet" in said and "Traceback" not in said, said


def test_a_missing_bundle_is_named(here: Path) -> None:
    got, said = run("--bundle", str(here / "nowhere"), "--item", "A", "--out", "x.csv")
    assert got == 4 and "--bundle" in said


def test_evaluate_reports_audiences(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small made-up history: the report carries every row with its interval."""
    rng = np.random.default_rng(7)
    rows = [
        (f"c{c}", f"i{rng.integers(0, 8) if c % 2 else rng.integers(4, 12)}", f"o{c}-{d}",
         pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)))
        for c in range(30) for d in rng.choice(90, size=6, replace=False)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["client_id", "item_id", "order_id", "timestamp"])
    frame.to_csv(here / "events.csv", index=False)
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{here / 'mlflow.db'}")
    args = ["evaluate", "--events", str(here / "events.csv"), "--split", "time"]
    args += ["--cutoff", "2024-03-01", "--models", "popular", "--audiences", "--audience-k", "5"]
    args += ["--audience-items", "4", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert set(report["audiences"]) == {"model", "blend_only", "most_active", "past_buyers"}
    for row in report["audiences"].values():
        low, high = row["precision@5_ci"]
        assert 0 <= low <= row["precision@5"] <= high <= 1 and 0 <= row["recall@5"] <= 1
    facts = report["audiences_data"]
    assert facts["k"] == 5 and 0 < facts["items"] <= 4 and facts["day"] == "2024-02-29"
    assert date.fromisoformat(facts["day"]) < date(2024, 3, 1)
