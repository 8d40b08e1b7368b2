"""Events without prices (ratings, content, free catalogues), cleaning switches on every
command that reads events, and imports that keep nothing or lose most rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from feature_store import build_features
from recsys.data import CleaningConfig, load_events, read_events
from recsys.errors import NothingKeptError
from tests.conftest import ROOT, write_csv
from training.cli import app

runner = CliRunner()


def test_price_and_quantity_columns_may_be_left_out(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "e.csv",
        """
        client_id,item_id,order_id,timestamp
        c1,A1,o1,2024-01-01
        c2,B2,o2,2024-01-02
        """,
    )
    events = read_events(path)
    assert events["quantity"].tolist() == [1.0, 1.0]
    assert events["price"].isna().all()
    assert load_events(path).report.rows_kept == 2  # price steps skip rows without a price


def test_empty_prices_and_quantities_take_their_defaults(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "e.csv",
        """
        client_id,item_id,order_id,timestamp,quantity,price
        c1,A,o1,2024-01-01,,
        c1,B,o1,2024-01-01,3,2.5
        c2,A,o2,2024-01-02,2,
        """,
    )
    events = read_events(path)
    assert events["quantity"].tolist() == [1.0, 3.0, 2.0]
    assert (
        np.isnan(events["price"][0]) and events["price"][1] == 2.5 and np.isnan(events["price"][2])
    )
    assert load_events(path).report.dropped["non_positive_price"] == 0


@pytest.fixture(scope="module")
def free(sample_raw: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real lines of the sample's first 200 clients as a free catalogue: every price 0."""
    known = sample_raw[sample_raw["Customer ID"] != ""]
    chosen = known["Customer ID"].drop_duplicates().head(200)
    lines = known[known["Customer ID"].isin(chosen)]
    table = pd.DataFrame(
        {
            "client_id": lines["Customer ID"],
            "item_id": lines["StockCode"],
            "order_id": lines["Invoice"],
            "timestamp": lines["InvoiceDate"],
            "quantity": lines["Quantity"],
            "price": "0",
        }
    )
    path = tmp_path_factory.mktemp("free") / "free.csv"
    table.to_csv(path, index=False)
    return path


def test_an_import_that_keeps_nothing_names_the_step(free: Path) -> None:
    with pytest.raises(NothingKeptError) as error:
        load_events(free)
    text = str(error.value)
    assert str(free) in text and "'non_positive_price'" in text
    assert "--skip-step non_positive_price" in text
    assert "cleaning.non_positive_price=false" in text


def _commands(events: Path, tmp: Path) -> dict[str, list[str]]:
    """Every command that reads events, on ``events``."""
    on = ["--events", str(events)]
    return {
        "inspect": ["data", "inspect", *on],
        "rules": ["rules", *on, "--out", str(tmp / "r.csv"), "--min-support", "0.05"],
        "preview": [
            "rules",
            "preview",
            *on,
            "--cross-sell",
            str(ROOT / "examples/cross_sell.yaml"),
        ],
        "features": ["features", "build", *on, "--as-of", "2011-01-01", "--out", str(tmp / "f.pq")],
        "evaluate": ["evaluate", *on, "--test-fraction", "0.25", "--models", "popular,itemknn"],
        "train": ["train", *on, "--out", str(tmp / "b"), "--models", "popular,itemknn"],
    }


@pytest.mark.parametrize("command", list(_commands(Path("x"), Path("y"))))
def test_every_command_switches_cleaning_steps(
    free: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = _commands(free, tmp_path)[command]
    if command != "features":  # features keep zero-price lines' counts, with no money
        refused = runner.invoke(app, args)
        assert refused.exit_code == 3, refused.output
        assert "--skip-step non_positive_price" in refused.output
    for switch in (
        ["--skip-step", "non_positive_price"],
        ["--set", "cleaning.non_positive_price=false"],
    ):
        result = runner.invoke(app, [*args, *switch])
        assert result.exit_code == 0, (switch, result.output)
    bad = runner.invoke(app, [*args, "--skip-step", "no_such_step"])
    assert (
        bad.exit_code == 4 and "no_such_step" in bad.output and "non_positive_price" in bad.output
    )


def test_a_step_removing_most_rows_prints_a_warning(free: Path, tmp_path: Path) -> None:
    text = free.read_text().splitlines()
    half = [
        text[0],
        *[line.replace(",0", ",1.5") if i % 3 == 0 else line for i, line in enumerate(text[1:])],
    ]
    path = tmp_path / "mostly-free.csv"
    path.write_text("\n".join(half) + "\n")
    result = runner.invoke(app, ["data", "inspect", "--events", str(path)])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "'non_positive_price'" in warning[0]
    quiet = runner.invoke(
        app, ["data", "inspect", "--events", str(path), "--skip-step", "non_positive_price"]
    )
    assert "warning" not in quiet.output


def test_features_without_prices_say_so(free: Path) -> None:
    raw = read_events(free).assign(price=np.nan)
    table = build_features(raw, "2011-01-01", cleaning=CleaningConfig())
    assert 150 < len(table) <= 200  # clients with a purchase (some only returned)
    assert table["monetary"].isna().all() and table["average_check"].isna().all()
    assert (table["m_score"] == 0).all()
    assert (table["segment"] != "").all()  # named by recency and frequency
    assert all(o["value"] is None or np.isnan(o["value"]) for o in table["last_orders"].iloc[0])
    assert table["frequency"].min() >= 1
