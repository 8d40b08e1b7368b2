"""``recsys retrain`` end to end on the bundled sample: the history before 2010-11-26,
and the rest arriving as the service's event log (what the API accepts). Real MLflow
store, real files; production is a ``recsys train`` + ``recsys promote``, made once
per module and copied for each test (:func:`copy_world`)."""

from __future__ import annotations

import getpass
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from recsys.data import load_events
from serving.state import resolve_bundle
from tests.test_retrain_retention import build_world, copy_world, enter
from training.cli import app
from training.settings import TrainingSettings

runner = CliRunner()
CUT = pd.Timestamp("2010-11-26")
#: The end of the sample's last day (2010-12-09): the run's time for every retrain here.
AS_OF = "2010-12-10"


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
    random, the rest written twice (a file imported twice); everything.csv.gz: the
    history with the new lines in it too (an export refreshed after the week)."""
    where = tmp_path_factory.mktemp("inputs")
    stamps = pd.to_datetime(sample_raw["InvoiceDate"])
    sample_raw[stamps < CUT].to_csv(where / "history.csv.gz", index=False)
    sample_raw.to_csv(where / "everything.csv.gz", index=False)
    sample_raw[(stamps >= "2010-03-01") & (stamps < CUT)].to_csv(
        where / "rotated.csv.gz", index=False
    )
    lines = log_lines(sample_raw[stamps >= CUT])
    write_log(where / "new.jsonl", lines)
    half = [
        line
        for line, keep in zip(lines, np.random.default_rng(0).random(len(lines)) < 0.5, strict=True)
        if keep
    ]
    write_log(where / "damaged.jsonl", half + half)
    return where


def train_and_promote(history: Path) -> None:
    """Version 1: popularity and rules on ``history``, promoted (``recsys`` commands)."""
    args = ["train", "--events", str(history), "--format", "online-retail"]
    for command in ([*args, "--models", "popular", "--out", "bundles"], ["promote", "1"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def production(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store and bundle directory with version 1 in production, made once."""
    where = tmp_path_factory.mktemp("production")
    return build_world(where, lambda: train_and_promote(inputs / "history.csv.gz"))


@pytest.fixture
def world(production: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of the module's production state, worked in."""
    copied = copy_world(production, tmp_path / "world")
    enter(monkeypatch, copied)
    return copied


#: Where :func:`retrained` keeps what its retrain printed, and when it started.
ANSWER, STARTED = "retrain-2.json", "retrain-2.started"


@pytest.fixture(scope="module")
def retrained(production: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Production after one normal week's retrain (version 2, promoted, its figures
    recorded), made once; its answer in ANSWER, its start time in STARTED."""
    where = copy_world(production, tmp_path_factory.mktemp("retrained") / "world")

    def run() -> None:
        (where / STARTED).write_text(datetime.now(UTC).replace(microsecond=0).isoformat())
        result = retrain(inputs, "new.jsonl")
        assert result.exit_code == 0, result.output
        (where / ANSWER).write_text(result.stdout)

    return build_world(where, run)


@pytest.fixture
def world2(retrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of the state after the normal week's retrain, worked in."""
    copied = copy_world(retrained, tmp_path / "world")
    enter(monkeypatch, copied)
    return copied


def retrain(inputs: Path, extra: str, *options: str, history: str = "history.csv.gz") -> Result:
    args = ["retrain", "--events", str(inputs / history), "--format", "online-retail"]
    extras = ["--extra-events", str(inputs / extra), "--out", "bundles", "--json"]
    timing = [] if "--as-of" in options else ["--as-of", AS_OF]
    return runner.invoke(app, [*args, *extras, *timing, *options])


def served() -> tuple[str, str]:
    """(CURRENT's bundle, the production alias's version)."""
    client = MlflowClient(TrainingSettings().tracking_uri())
    version = client.get_model_version_by_alias("recsys", "production").version
    return Path("bundles/CURRENT").read_text(), str(version)


def version_tags(version: str) -> dict[str, str]:
    return dict(
        MlflowClient(TrainingSettings().tracking_uri()).get_model_version("recsys", version).tags
    )


def bundle_of(version: str) -> Path:
    return Path(version_tags(version)["bundle_dir"])


def sidecar(version: str) -> dict:
    """The ``retrain.json`` beside version ``version``'s bundle."""
    return dict(json.loads((bundle_of(version) / "retrain.json").read_text()))


def audit() -> list[dict]:
    return [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]


def clients(path: Path, fmt: str) -> set[str]:
    events = load_events(path, fmt).events
    return {str(c) for c in events["client_id"].dropna()}


def test_a_normal_week_is_promoted(world2: Path, inputs: Path) -> None:
    world, found = world2, json.loads((world2 / ANSWER).read_text())
    assert list(found) == ["decision", "reasons", "candidate", "production", "paired_difference"]
    assert list(found["candidate"]) == ["version", "ndcg@10", "coverage@10", "rows_kept"]
    assert (found["decision"], found["reasons"]) == ("promoted", [])
    kept = len(load_events(inputs / "history.csv.gz", "online-retail").events)
    kept += len(load_events(inputs / "new.jsonl", "events-log").events)
    assert found["candidate"]["version"] == "2" and found["candidate"]["rows_kept"] == kept
    assert found["production"]["version"] == "1" and found["production"]["rows_kept"] is None
    # The same configuration on both sides: one fit, no difference.
    assert found["paired_difference"] == {"ndcg@10": 0.0, "ci95": [0.0, 0.0]}
    bundle = bundle_of("2")
    assert bundle.parent == world / "bundles"  # promoted: beside the served bundles
    assert served() == (bundle.name, "2")
    assert version_tags("2")["retrain.decision"] == "promoted"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["metrics"]["data.rows_kept"] == kept
    assert manifest["metrics"]["data.rows_before_deletions"] == kept  # no client deleted
    assert manifest["events_position"]["log_offset"] == (inputs / "new.jsonl").stat().st_size
    assert audit()[-1]["action"] == "model.promote"
    assert audit()[-1]["detail"] == {"version": "2", "via": "retrain", "reasons": []}


def test_the_record_beside_the_bundle_says_what_was_decided(world2: Path, inputs: Path) -> None:
    started = datetime.fromisoformat((world2 / STARTED).read_text())
    found = json.loads((world2 / ANSWER).read_text())
    record = sidecar("2")
    assert {"rules", "gate", "inputs"} <= set(record)
    assert record["gate"]["decision"] == "promoted" and record["gate"]["reasons"] == []
    assert record["production"] == "1"
    candidate, production = found["candidate"], found["production"]
    assert record["backtest"] == {
        "candidate": {"ndcg@10": candidate["ndcg@10"], "coverage@10": candidate["coverage@10"]},
        "production": {"ndcg@10": production["ndcg@10"], "coverage@10": production["coverage@10"]},
        "difference": {"ndcg@10": 0.0, "ci95": [0.0, 0.0]},
    }
    decided = datetime.fromisoformat(record["decided_at"])
    assert decided.utcoffset() is not None and decided.utcoffset().total_seconds() == 0
    assert started <= decided <= datetime.now(UTC)
    # The diff from version 1's bundle to this one: the week's new clients, by hand.
    before = json.loads((bundle_of("1") / "manifest.json").read_text())["version"]
    after = json.loads((bundle_of("2") / "manifest.json").read_text())["version"]
    diff = record["diff"]
    assert (diff["a"], diff["b"]) == (before, after)
    old = clients(inputs / "history.csv.gz", "online-retail")
    new = clients(inputs / "new.jsonl", "events-log")
    assert diff["clients"]["added"] == len(new - old) > 0
    assert diff["clients"]["removed"] == 0
    # The run's gate.json says the same as the record once promoted.
    import mlflow

    run = MlflowClient(TrainingSettings().tracking_uri()).get_model_version("recsys", "2").run_id
    assert mlflow.artifacts.load_dict(f"runs:/{run}/gate.json") == record["gate"]


def test_the_next_retrain_compares_rows_with_what_production_recorded(
    world2: Path, inputs: Path
) -> None:
    result = retrain(inputs, "new.jsonl")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["production"]["rows_kept"] == found["candidate"]["rows_kept"]
    diff = runner.invoke(app, ["diff-versions", "2", "3", "--json"])
    assert diff.exit_code == 0, diff.output
    changed = json.loads(diff.stdout)
    assert changed["clients"]["added"] == changed["items"]["removed"] == 0  # the same data


def test_deleted_clients_do_not_fail_rows_kept(world2: Path, inputs: Path) -> None:
    """Clients deleted since production (version 2, which recorded its figures) shrink
    the rows kept; the rows before the deleted-clients step still grew: a pass."""
    history = load_events(inputs / "history.csv.gz", "online-retail").events
    new = load_events(inputs / "new.jsonl", "events-log").events
    gone = sorted(set(history["client_id"].dropna().astype(str)))[:25]
    rows = int(history["client_id"].isin(gone).sum() + new["client_id"].isin(gone).sum())
    Path("tombstones.txt").write_text(
        "".join(hashlib.sha256(c.encode()).hexdigest() + "\n" for c in gone)
    )
    result = retrain(inputs, "new.jsonl", "--tombstones", "tombstones.txt")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "promoted"
    assert found["candidate"]["rows_kept"] == found["production"]["rows_kept"] - rows
    (check,) = [c for c in sidecar("3")["gate"]["checks"] if c["name"] == "rows kept"]
    assert check["status"] == "pass"
    # The deleted-clients step runs first: it removes their lines before any other step.
    raw = pd.read_csv(inputs / "history.csv.gz", dtype=str, keep_default_na=False)
    lines = [json.loads(x) for x in (inputs / "new.jsonl").read_text().splitlines()]
    removed = int(raw["Customer ID"].str.removesuffix(".0").isin(gone).sum())
    removed += sum(line["client_id"] in gone for line in lines)
    assert f"{removed:,} of deleted clients" in check["detail"]


def test_a_rotated_history_needs_the_gate_setting(world2: Path, inputs: Path) -> None:
    # Production is version 2, which recorded its figures.
    result = retrain(inputs, "new.jsonl", history="rotated.csv.gz")
    assert result.exit_code == 6, result.output
    assert [r for r in json.loads(result.stdout)["reasons"] if r.startswith("rows kept:")]
    # The rotation keeps 80 % of the history's lines: allowed when asked for.
    result = retrain(
        inputs, "new.jsonl", "--set", "gate.min_rows_ratio=0.75", history="rotated.csv.gz"
    )
    assert result.exit_code == 0, result.output
    assert served()[1] == "4"


def test_a_feed_that_stopped_days_ago_is_rejected(world: Path, inputs: Path) -> None:
    # The newest event is from 2010-12-09; ten days later the 7 days before hold none.
    result = retrain(inputs, "new.jsonl", "--as-of", "2010-12-19T00:00:00Z")
    assert result.exit_code == 6, result.output
    (reason,) = json.loads(result.stdout)["reasons"]
    assert reason.startswith("events per day: no event of a known client in the 7 days")
    assert "2010-12-19 00:00" in reason and "feed stopped" in reason
    assert served()[1] == "1"


def test_the_week_already_in_the_history_is_dropped_and_rejected(world: Path, inputs: Path) -> None:
    """The history export was refreshed after the week, and the week's log read too:
    every line of the log is already in the history (the same event twice)."""
    result = retrain(inputs, "new.jsonl", history="everything.csv.gz")
    assert result.exit_code == 6, result.output
    found = json.loads(result.stdout)
    history = len(load_events(inputs / "everything.csv.gz", "online-retail").events)
    week = len(load_events(inputs / "new.jsonl", "events-log").events)
    assert found["candidate"]["rows_kept"] == history  # the log's copies dropped
    (reason,) = found["reasons"]
    assert reason.startswith(
        f"cleaning: new events (new.jsonl): {week:,} of its {week:,} rows kept (100%"
    )
    assert f"({week:,} in history)" in reason
    manifest = json.loads((bundle_of("2") / "manifest.json").read_text())
    assert manifest["metrics"]["data.dropped.duplicates_across_inputs"] == week


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
    record = sidecar("2")
    assert record["gate"]["decision"] == "rejected" and record["production"] == "1"
    assert record["diff"]["clients"]["a"] > 0


def test_a_rejected_candidate_is_kept_apart_and_can_still_be_promoted(
    world: Path, inputs: Path
) -> None:
    assert retrain(inputs, "damaged.jsonl").exit_code == 6
    candidate = bundle_of("2")
    assert candidate.parent == world / "bundles" / "candidates"
    # Serving without CURRENT takes the newest bundle under bundles/: never a candidate.
    production = bundle_of("1")
    Path("bundles/CURRENT").unlink()
    assert resolve_bundle(world / "bundles") == production
    Path("bundles/CURRENT").write_text(production.name)
    # Promoted by hand: moved beside the served bundles, then served.
    result = runner.invoke(app, ["promote", "2"])
    assert result.exit_code == 0, result.output
    moved = world / "bundles" / candidate.name
    assert bundle_of("2") == moved and (moved / "manifest.json").is_file()
    assert not candidate.exists()
    assert served() == (candidate.name, "2")
    assert resolve_bundle(world / "bundles") == moved


def test_dry_run_reports_and_promotes_nothing(world: Path, inputs: Path) -> None:
    before = served()
    result = retrain(inputs, "damaged.jsonl", "--dry-run")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "dry-run" and found["reasons"]
    assert served() == before
    assert version_tags("2")["retrain.decision"] == "dry-run"
    assert bundle_of("2").parent == world / "bundles" / "candidates"
    assert sidecar("2")["gate"]["decision"] == "dry-run"


def test_candidates_do_not_count_toward_keep(world: Path, inputs: Path) -> None:
    """Two rejected candidates and --keep 1: production stays (CURRENT, alias), the
    newer candidate stays among the candidates, the older goes."""
    for _ in range(2):
        assert retrain(inputs, "damaged.jsonl", "--keep", "1").exit_code == 6
    first, second = bundle_of("2"), bundle_of("3")
    assert not first.exists() and (second / "manifest.json").is_file()
    served_bundles = [p.parent.name for p in (world / "bundles").glob("*/manifest.json")]
    assert served_bundles == [bundle_of("1").name]


def test_force_promotes_and_records_who_asked(world: Path, inputs: Path) -> None:
    result = retrain(inputs, "damaged.jsonl", "--force")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "promoted" and found["reasons"]
    assert served()[1] == "2"
    user = getpass.getuser()
    assert version_tags("2")["retrain.forced_by"] == user
    assert version_tags("2")["retrain.decision"] == "promoted"
    last = audit()[-1]
    assert last["who"] == f"cli:{user}" and last["detail"]["forced_by"] == user
    assert last["detail"]["reasons"] == found["reasons"]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store with no run yet (its tables made once for the module)."""
    where = tmp_path_factory.mktemp("empty")
    return build_world(
        where, lambda: MlflowClient(TrainingSettings().tracking_uri()).search_experiments()
    )


def test_without_production_the_first_version_is_promoted(
    inputs: Path, empty_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enter(monkeypatch, copy_world(empty_store, tmp_path / "world"))
    result = retrain(inputs, "new.jsonl", "--set", "ease.max_items=200")  # a quick EASE
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decision"] == "promoted" and found["production"] is None
    assert found["paired_difference"] is None
    assert served() == (bundle_of("1").name, "1")
    record = sidecar("1")
    assert (record["production"], record["diff"]) == (None, None)
    candidate = found["candidate"]
    assert record["backtest"] == {
        "candidate": {"ndcg@10": candidate["ndcg@10"], "coverage@10": candidate["coverage@10"]}
    }


@pytest.mark.parametrize(
    ("options", "code", "needle"),
    [
        (["--dry-run", "--force"], 4, "choose one"),
        (["--set", "als.factors=8"], 4, "production has no als"),
        (["--set", "blend.ease=2"], 4, "the service's setting"),
        (["--set", "gate.ndcg_tolerance=-1"], 4, "gate.ndcg_tolerance"),
        (["--set", "gate.min_rows_ratio=1.5"], 4, "gate.min_rows_ratio"),
        (["--as-of", "next tuesday"], 4, "--as-of: 'next tuesday' is not an ISO date"),
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
    write_log(world / "bad.jsonl", lines)
    result = retrain(inputs, str(world / "bad.jsonl"))  # an absolute path: world's
    assert result.exit_code == 3, result.output
    assert "bad.jsonl" in result.output and "row 2" in result.output
    assert "'timestamp'" in result.output
