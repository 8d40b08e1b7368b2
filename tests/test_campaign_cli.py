"""``recsys campaign build | report | simulate`` on the sample bundle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.campaigns import CampaignStore, in_holdout
from recsys.data import load_events
from recsys.privacy import client_hash
from training.cli import app as cli

CAMPAIGN = """\
name: winter
audience: {kind: repeat_due, size: 120}
offer: {next_best: 2}
channel: email
start: 2010-11-01
end: 2010-12-01
holdout: 20
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a campaigns folder; the service's stores under it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "winter.yaml").write_text(CAMPAIGN, encoding="utf-8")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["campaign", *args])
    return result.exit_code, result.output


def build(bundles: Path, here: Path, *extra: str) -> tuple[int, str]:
    paths = ["--campaigns", str(here / "campaigns"), "--out", str(here / "contacts.csv")]
    paths += ["--tombstones", str(here / "none.txt")]
    return run("build", "winter", "--bundle", str(bundles), *paths, *extra)


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_build_writes_the_treatment_contact_list_and_records_both_groups(
    bundles: Path, here: Path
) -> None:
    code, said = build(bundles, here)
    assert code == 0, said
    members = CampaignStore(here / "campaigns").members("winter")
    assert len(members) == 120 and "120 members" in said
    held = in_holdout("winter", members["client_id"].tolist(), 20)
    assert members["group"].eq("holdout").to_numpy().tolist() == held.tolist()
    rows = read(here / "contacts.csv")
    assert list(rows[0]) == ["client_id", "group", "channel", "rank", "item_id", "reason"]
    assert {r["group"] for r in rows} == {"treatment"}
    assert {r["client_id"] for r in rows} == set(members.loc[~held, "client_id"])
    assert all(r["reason"] and r["rank"] in ("1", "2") for r in rows)
    code, said = build(bundles, here)
    assert code == 4 and "--force" in said  # started in 2010: its groups stay
    code, _ = build(bundles, here, "--include-holdout", "--force")
    assert code == 0
    assert {r["client_id"] for r in read(here / "contacts.csv")} == set(members["client_id"])


def test_build_leaves_out_deleted_clients(bundles: Path, here: Path) -> None:
    build(bundles, here)
    first = CampaignStore(here / "campaigns").members("winter")["client_id"].iloc[0]
    (here / "gone.txt").write_text(client_hash(first) + "\n", encoding="utf-8")
    paths = ["--campaigns", "campaigns", "--out", "c.csv", "--tombstones", str(here / "gone.txt")]
    code, said = run("build", "winter", "--bundle", str(bundles), *paths, "--force")
    assert code == 0, said
    assert first not in set(CampaignStore(here / "campaigns").members("winter")["client_id"])


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (CAMPAIGN.replace("repeat_due", "friends"), "audience.kind"),
        (CAMPAIGN.replace("holdout: 20", "holdout: 70"), "holdout"),
        (CAMPAIGN.replace("end: 2010-12-01", "end: 2010-10-01"), "end"),
        (CAMPAIGN.replace("channel: email\n", ""), "channel"),
        (CAMPAIGN + "budget: 10\n", "budget"),
        ("name: [unclosed\n", "cannot read"),
    ],
)
def test_bad_definitions_exit_4_naming_the_field(
    bundles: Path, here: Path, text: str, named: str
) -> None:
    (here / "campaigns" / "winter.yaml").write_text(text, encoding="utf-8")
    code, said = build(bundles, here)
    assert code == 4 and named in said and "winter.yaml" in said, said
    assert "Traceback" not in said


def test_unknown_campaign_and_unknown_item_exit_4(bundles: Path, here: Path) -> None:
    code, said = run(
        "build", "summer", "--bundle", str(bundles), "--campaigns", "campaigns", "--out", "c.csv"
    )
    assert code == 4 and "summer" in said
    item = CAMPAIGN.replace("{kind: repeat_due, size: 120}", "{kind: item, value: NOPE-1}")
    (here / "campaigns" / "winter.yaml").write_text(item, encoding="utf-8")
    code, said = build(bundles, here)
    assert code == 4 and "audience.value" in said and "NOPE-1" in said, said


def test_report_reads_the_window_and_logs_a_run(
    bundles: Path, here: Path, sample_data: Path
) -> None:
    build(bundles, here)
    members = CampaignStore(here / "campaigns").members("winter")
    code, said = run("report", "winter", "--campaigns", "campaigns", "--events", str(sample_data),
                     "--format", "online-retail", "--json")  # fmt: skip
    assert code == 0, said
    found = json.loads(said)
    # Revenue per treatment client over [start, end), computed here from the events.
    events = load_events(sample_data, "online-retail").events
    inside = events[(events["timestamp"] >= "2010-11-01") & (events["timestamp"] < "2010-12-01")]
    treated = members.loc[members["group"] == "treatment", "client_id"]
    spent = inside[inside["client_id"].astype(str).isin(set(treated))]
    revenue = float((spent["quantity"] * spent["price"]).sum()) / len(treated)
    assert found["metrics"]["revenue_per_client"]["treatment"] == pytest.approx(revenue)
    assert found["clients"] == {"treatment": len(treated), "holdout": len(members) - len(treated)}
    runs = mlflow.search_runs(experiment_names=["recsys"], filter_string="tags.campaign = 'winter'")
    assert len(runs) == 1
    assert runs["metrics.revenue_per_client.treatment"].iloc[0] == pytest.approx(revenue)


def test_report_before_a_build_exits_4(here: Path, sample_data: Path) -> None:
    code, said = run("report", "winter", "--campaigns", "campaigns", "--events", str(sample_data),
                     "--format", "online-retail")  # fmt: skip
    assert code == 4 and "recsys campaign build winter" in said


def test_simulate_injects_a_known_uplift(sample_data: Path, here: Path) -> None:
    args = ["simulate", "--events", str(sample_data), "--format", "online-retail",
            "--cutoff", "2010-10-01", "--days", "30", "--seed", "3", "--json"]  # fmt: skip
    code, plain = run(*args)
    assert code == 0, plain
    code, raised = run(*args, "--inject-uplift", "0.25")
    assert code == 0, raised
    before, after = json.loads(plain), json.loads(raised)
    assert set(before) == {"metrics", "srm_p", "clients"}
    metric = set(before["metrics"]["revenue_per_client"])
    assert {"treatment", "holdout", "difference", "ci95", "relative", "relative_ci95",
            "cuped_ci95", "did"} <= metric  # fmt: skip
    revenue = lambda found, group: found["metrics"]["revenue_per_client"][group]  # noqa: E731
    assert revenue(after, "treatment") == pytest.approx(1.25 * revenue(before, "treatment"))
    assert revenue(after, "holdout") == pytest.approx(revenue(before, "holdout"))
    buyers = before["metrics"]["buyers_share"]
    assert after["metrics"]["buyers_share"] == buyers  # more spent, not more buyers
    # Every client who bought before the cut-off is in it (counted from the events).
    events = load_events(sample_data, "online-retail").events
    clients = (
        events.loc[events["timestamp"] < pd.Timestamp("2010-10-01"), "client_id"].dropna().nunique()
    )
    assert sum(before["clients"].values()) == clients


def test_simulate_refuses_a_bad_cutoff(sample_data: Path, here: Path) -> None:
    code, said = run(
        "simulate", "--events", str(sample_data), "--format", "online-retail", "--cutoff", "soon"
    )
    assert code == 4 and "--cutoff" in said


def test_outcomes_logged_the_same_day_are_one_contact(bundles: Path, here: Path) -> None:
    build(bundles, here)
    member = CampaignStore(here / "campaigns").members("winter")["client_id"].iloc[0]
    said = {"client_id": member, "outcome": "declined", "channel": "call"}
    day = [{"id": str(i), "outcome": {**said, "item_id": f"i{i}", "at": f"2010-11-02T1{i}:00:00Z"}}
           for i in range(3)]  # fmt: skip
    (here / "artifacts").mkdir(exist_ok=True)
    (here / "artifacts" / "outcomes.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in day), encoding="utf-8"
    )
    code, said = build(bundles, here, "--force")  # the default cap of 2: one call is one contact
    assert code == 0, said
    assert member in set(CampaignStore(here / "campaigns").members("winter")["client_id"])


def test_a_features_file_without_the_column_exits_4(
    bundles: Path, here: Path, sample_features: Path
) -> None:
    table = pd.read_parquet(sample_features).drop(columns=["segment"])
    table.to_parquet(here / "thin.parquet")
    text = CAMPAIGN.replace("{kind: repeat_due, size: 120}", "{kind: segment, value: loyal}")
    (here / "campaigns" / "winter.yaml").write_text(text, encoding="utf-8")
    code, said = build(bundles, here, "--features", str(here / "thin.parquet"))
    assert code == 4 and "'segment'" in said and "thin.parquet" in said, said


def test_a_features_path_that_is_no_file_exits_4(bundles: Path, here: Path) -> None:
    """A repeat-due campaign needs no features, but a --features given is read: a wrong
    path must not leave the offers silently without segments and countries."""
    code, said = build(bundles, here, "--features", str(here / "missing.parquet"))
    assert code == 4 and "--features" in said and "missing.parquet" in said, said


def test_the_report_splits_by_segment_when_features_are_given(
    bundles: Path, here: Path, sample_data: Path, sample_features: Path
) -> None:
    code, said = build(bundles, here, "--features", str(sample_features))
    assert code == 0, said
    code, said = run("report", "winter", "--campaigns", "campaigns", "--events", str(sample_data),
                     "--format", "online-retail", "--json", "--no-track")  # fmt: skip
    segments = set(pd.read_parquet(sample_features)["segment"].dropna())
    assert set(json.loads(said)["by"]["segment"]) <= segments and json.loads(said)["by"]["segment"]


def test_worker_processes_give_the_offers_of_one_process(
    bundles: Path, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.cli import _campaign_pool

    code, said = build(bundles, here)
    assert code == 0, said
    alone = CampaignStore(here / "campaigns").members("winter")
    monkeypatch.setattr(_campaign_pool, "SMALL", 10)  # 120 members: a pool of workers
    monkeypatch.setattr(_campaign_pool, "CHUNK", 16)
    monkeypatch.setattr(_campaign_pool.os, "cpu_count", lambda: 2)
    code, said = build(bundles, here, "--force")
    assert code == 0, said
    pooled = CampaignStore(here / "campaigns").members("winter")
    pd.testing.assert_frame_equal(alone, pooled)


def test_outcomes_in_the_redis_stream_count_as_contacts(
    bundles: Path, here: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orjson
    import redis

    from serving.outcomes import OUTCOMES_STREAM
    from serving.stream import FIELD

    build(bundles, here)
    member = CampaignStore(here / "campaigns").members("winter")["client_id"].iloc[0]
    client = redis.Redis.from_url(redis_url)
    try:
        for i, day in enumerate(("2010-10-30", "2010-11-03")):  # two calls, two days
            outcome = {"client_id": member, "item_id": "x", "outcome": "declined",
                       "channel": "call", "at": f"{day}T10:00:00Z"}  # fmt: skip
            client.xadd(OUTCOMES_STREAM, {FIELD: orjson.dumps({"id": f"r{i}", "outcome": outcome})})
        monkeypatch.setenv("RECSYS_REDIS_URL", redis_url)
        code, said = build(bundles, here, "--force")
        assert code == 0, said
        assert member not in set(CampaignStore(here / "campaigns").members("winter")["client_id"])
    finally:
        client.delete(OUTCOMES_STREAM)
        client.close()


def test_purchases_the_service_accepted_since_training_are_read(
    bundles: Path, bundle: Bundle, here: Path
) -> None:
    from datetime import UTC, datetime

    items = [str(i) for i in bundle.data.items.ids[:2]]
    listed = [str(c) for c in bundle.data.clients.ids[:3]]
    text = CAMPAIGN.replace(
        "{kind: repeat_due, size: 120}", f"{{kind: clients, clients: {listed}}}"
    )
    text = text.replace("{next_best: 2}", f"{{items: {items}}}")
    (here / "campaigns" / "winter.yaml").write_text(text, encoding="utf-8")
    now = datetime.now(UTC).isoformat()
    bought = {"type": "purchase", "client_id": listed[0], "item_id": items[0], "timestamp": now}
    (here / "artifacts").mkdir(exist_ok=True)
    (here / "artifacts" / "events.jsonl").write_text(json.dumps(bought) + "\n", encoding="utf-8")
    code, said = build(bundles, here)
    assert code == 0, said
    offers = CampaignStore(here / "campaigns").members("winter").set_index("client_id")["offers"]
    assert offers[listed[0]] == [items[1]]  # bought since training: not offered again
    assert offers[listed[1]] == items


def test_purchases_since_training_are_read_from_the_redis_stream(
    bundles: Path, bundle: Bundle, here: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orjson
    import redis

    from serving.stream import DEFAULT_STREAM, FIELD

    items = [str(i) for i in bundle.data.items.ids[:2]]
    listed = [str(c) for c in bundle.data.clients.ids[:2]]
    text = CAMPAIGN.replace(
        "{kind: repeat_due, size: 120}", f"{{kind: clients, clients: {listed}}}"
    )
    (here / "campaigns" / "winter.yaml").write_text(
        text.replace("{next_best: 2}", f"{{items: {items}}}"), encoding="utf-8"
    )
    client = redis.Redis.from_url(redis_url)
    try:
        event = {"type": "purchase", "client_id": listed[1], "item_id": items[1]}
        client.xadd(DEFAULT_STREAM, {FIELD: orjson.dumps(event)})
        monkeypatch.setenv("RECSYS_REDIS_URL", redis_url)
        code, said = build(bundles, here)
        assert code == 0, said
    finally:
        client.delete(DEFAULT_STREAM)
        client.close()
    offers = CampaignStore(here / "campaigns").members("winter").set_index("client_id")["offers"]
    assert offers[listed[1]] == [items[0]] and offers[listed[0]] == items
