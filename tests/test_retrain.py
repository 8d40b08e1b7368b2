"""``recsys retrain`` end to end on the bundled sample: the history before 2010-11-26,
and the rest arriving as the service's event log (what the API accepts). Real MLflow
store, real files; production is a ``recsys train`` + ``recsys promote``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from recsys.data import load_events
from training.cli import app
from training.settings import TrainingSettings

runner = CliRunner()
CUT = pd.Timestamp("2010-11-26")


def log_lines(raw: pd.DataFrame) -> list[dict]:
    """The sample's lines as the service logs accepted purchases (a client, quantity > 0)."""
    kept = raw[(raw["Quantity"].astype(float) > 0) & (raw["Customer ID"] != "")]
    return [
        {
            "type": "purchase",
            "client_id": row["Customer ID"].removesuffix(".0"),
            "item_id": row["StockCode"],
            "order_id": row["Invoice"],
            "timestamp": pd.Timestamp(row["InvoiceDate"]).isoformat(),
            "quantity": float(row["Quantity"]),
            "price": float(row["Price"]),
            "event_id": f"e{index}",
        }
        for index, row in kept.iterrows()
    ]


def write_log(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def inputs(sample_raw: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """history.csv.gz, new.jsonl, and damaged.jsonl: half of new's lines dropped at
    random, the rest written twice (a file imported twice)."""
    where = tmp_path_factory.mktemp("inputs")
    stamps = pd.to_datetime(sample_raw["InvoiceDate"])
    sample_raw[stamps < CUT].to_csv(where / "history.csv.gz", index=False)
    lines = log_lines(sample_raw[stamps >= CUT])
    write_log(where / "new.jsonl", lines)
    half = [
        line
        for line, keep in zip(lines, np.random.default_rng(0).random(len(lines)) < 0.5, strict=True)
        if keep
    ]
    write_log(where / "damaged.jsonl", half + half)
    return where


@pytest.fixture
def world(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLflow store and bundle directory with version 1 (popularity and rules,
    on the history) in production."""
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    monkeypatch.chdir(tmp_path)
    args = ["train", "--events", str(inputs / "history.csv.gz"), "--format", "online-retail"]
    for command in ([*args, "--models", "popular", "--out", "bundles"], ["promote", "1"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return tmp_path


def retrain(inputs: Path, extra: str, *options: str) -> Result:
    args = ["retrain", "--events", str(inputs / "history.csv.gz"), "--format", "online-retail"]
    return runner.invoke(
        app, [*args, "--extra-events", str(inputs / extra), "--out", "bundles", "--json", *options]
    )


def served() -> tuple[str, str]:
    """(CURRENT's bundle, the production alias's version)."""
    client = MlflowClient(TrainingSettings().tracking_uri())
    version = client.get_model_version_by_alias("recsys", "production").version
    return Path("bundles/CURRENT").read_text(), str(version)


def version_tags(version: str) -> dict[str, str]:
    return dict(
        MlflowClient(TrainingSettings().tracking_uri()).get_model_version("recsys", version).tags
    )


def audit() -> list[dict]:
    return [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]


def test_a_normal_week_is_promoted(world: Path, inputs: Path) -> None:
    result = retrain(inputs, "new.jsonl")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert list(found) == ["decision", "reasons", "candidate", "production", "paired_difference"]
    assert list(found["candidate"]) == ["version", "ndcg@10", "coverage@10", "rows_kept"]
    assert (found["decision"], found["reasons"]) == ("promoted", [])
    kept = len(load_events(inputs / "history.csv.gz", "online-retail").events)
    kept += len(load_events(inputs / "new.jsonl", "events-log").events)
    assert found["candidate"]["version"] == "2" and found["candidate"]["rows_kept"] == kept
    assert found["production"]["version"] == "1" and found["production"]["rows_kept"] is None
    # The same configuration on both sides: one fit, no difference.
    assert found["paired_difference"] == {"ndcg@10": 0.0, "ci95": [0.0, 0.0]}
    bundle = Path(version_tags("2")["bundle_dir"])
    assert served() == (bundle.name, "2")
    assert version_tags("2")["retrain.decision"] == "promoted"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["metrics"]["data.rows_kept"] == kept
    assert manifest["events_position"]["log_offset"] == (inputs / "new.jsonl").stat().st_size
    assert audit()[-1]["action"] == "model.promote"
    assert audit()[-1]["detail"] == {"version": "2", "via": "retrain", "reasons": []}


def test_the_next_retrain_compares_rows_with_what_production_recorded(
    world: Path, inputs: Path
) -> None:
    assert retrain(inputs, "new.jsonl").exit_code == 0
    result = retrain(inputs, "new.jsonl")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["production"]["rows_kept"] == found["candidate"]["rows_kept"]
    diff = runner.invoke(app, ["diff-versions", "2", "3", "--json"])
    assert diff.exit_code == 0, diff.output
    changed = json.loads(diff.stdout)
    assert changed["clients"]["added"] == changed["items"]["removed"] == 0  # the same data


def test_a_damaged_week_is_rejected_and_production_kept(world: Path, inputs: Path) -> None:
    before = served()
    result = retrain(inputs, "damaged.jsonl")
    assert result.exit_code == 6, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "rejected"
    assert any("'duplicates' removed" in reason for reason in found["reasons"])
    assert served() == before
    tags = version_tags("2")
    assert tags["retrain.decision"] == "rejected" and "duplicates" in tags["retrain.reasons"]
    assert [entry["detail"] for entry in audit()] == [{"version": "1"}]  # promote 1 only


def test_dry_run_reports_and_promotes_nothing(world: Path, inputs: Path) -> None:
    before = served()
    result = retrain(inputs, "damaged.jsonl", "--dry-run")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "dry-run" and found["reasons"]
    assert served() == before
    assert version_tags("2")["retrain.decision"] == "dry-run"


def test_force_promotes_and_records_who_asked(world: Path, inputs: Path) -> None:
    result = retrain(inputs, "damaged.jsonl", "--force")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "promoted" and found["reasons"]
    assert served()[1] == "2"
    user = getpass.getuser()
    assert version_tags("2")["retrain.forced_by"] == user
    last = audit()[-1]
    assert last["who"] == f"cli:{user}" and last["detail"]["forced_by"] == user
    assert last["detail"]["reasons"] == found["reasons"]


def test_without_production_the_first_version_is_promoted(
    inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    monkeypatch.chdir(tmp_path)
    result = retrain(inputs, "new.jsonl", "--set", "ease.max_items=200")  # a quick EASE
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "promoted" and found["production"] is None
    assert found["paired_difference"] is None
    assert served() == (Path(version_tags("1")["bundle_dir"]).name, "1")


@pytest.mark.parametrize(
    ("options", "code", "needle"),
    [
        (["--dry-run", "--force"], 4, "choose one"),
        (["--set", "als.factors=8"], 4, "production has no als"),
        (["--set", "blend.ease=2"], 4, "the service's setting"),
        (["--set", "gate.ndcg_tolerance=-1"], 4, "gate.ndcg_tolerance"),
    ],
)
def test_bad_options_are_refused(
    world: Path, inputs: Path, options: list[str], code: int, needle: str
) -> None:
    result = retrain(inputs, "new.jsonl", *options)
    assert result.exit_code == code and needle in result.output, result.output
    assert served()[1] == "1"


def test_a_bad_event_line_names_file_row_and_column(world: Path, inputs: Path) -> None:
    lines = log_lines(pd.read_csv(inputs / "history.csv.gz", dtype=str, keep_default_na=False)[:3])
    lines[1]["timestamp"] = "yesterday"
    write_log(inputs / "bad.jsonl", lines)
    result = retrain(inputs, "bad.jsonl")
    assert result.exit_code == 3, result.output
    assert "bad.jsonl" in result.output and "row 2" in result.output
    assert "'timestamp'" in result.output
