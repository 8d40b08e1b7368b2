"""Experiments: assignment, attribution, report intervals, serving arms, the simulator."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.errors import ConfigError
from recsys.feedback import (
    Experiment,
    arm_report,
    attribute,
    load_experiments,
    two_proportions,
    wilson,
)
from serving.app import create_app
from serving.impressions import decode
from tests.browser import rows, text_of
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK
from training.cli import app as cli

THREE = {
    "name": "blend-test",
    "control": "a",
    "start": "2020-01-01",
    "arms": [
        {"name": "a", "share": 50},
        {"name": "b", "share": 30, "blend": {"popular": 1.0}},
        {"name": "c", "share": 20, "blend": {"ease": 1.0}},
    ],
}


def _arm_by_hand(experiment: dict, client_id: str) -> str:  # type: ignore[type-arg]
    """The documented rule, from SHA-256 itself: the first 8 bytes (big-endian) of the
    digest of "experiment, US, client" modulo 10,000 is the bucket; the arms cut the
    buckets in file order by their shares (50/30/20: 0-4999, 5000-7999, 8000-9999)."""
    digest = hashlib.sha256(f"{experiment['name']}\x1f{client_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 10_000
    edge = 0
    for arm in experiment["arms"]:
        edge += arm["share"] * 100  # percent of 10,000 buckets
        if bucket < edge:
            return str(arm["name"])
    raise AssertionError(f"bucket {bucket} beyond the shares")


def test_the_arm_is_the_documented_bucket() -> None:
    experiment = Experiment.model_validate(THREE)
    clients = [f"client-{i}" for i in range(2000)]
    assert [experiment.arm_of(c).name for c in clients] == [_arm_by_hand(THREE, c) for c in clients]
    # Worked with `printf 'blend-test\x1fclient-0' | sha256sum`: e600034904b95f05…,
    # 0xe600034904b95f05 % 10000 = 8565 (arm c); client-1 6add88088e2b91be… 2126 (a);
    # client-2 bff6ca069060801f… 5039 (b).
    assert [experiment.arm_of(f"client-{i}").name for i in range(3)] == ["c", "a", "b"]


def test_assignment_is_deterministic_and_keeps_the_split() -> None:
    experiment = Experiment.model_validate(THREE)
    arms = Counter(experiment.arm_of(f"client-{i}").name for i in range(100_000))
    for arm in experiment.arms:
        assert abs(arms[arm.name] / 100_000 - arm.share / 100) < 0.01, arms
    again = Experiment.model_validate(THREE)
    assert all(
        experiment.arm_of(f"client-{i}").name == again.arm_of(f"client-{i}").name
        for i in range(1000)
    )
    other = Experiment.model_validate({**THREE, "name": "another"})
    moved = sum(experiment.arm_of(str(i)).name != other.arm_of(str(i)).name for i in range(1000))
    assert moved > 300  # another experiment's assignment is independent of this one's


def test_experiment_files_are_checked(tmp_path: Path) -> None:
    cases = {
        "shares": {**THREE, "arms": [{"name": "a", "share": 50}, {"name": "b", "share": 40}]},
        "control": {**THREE, "control": "z"},
        "end": {**THREE, "end": "2019-01-01"},
    }
    for field, experiment in cases.items():
        path = tmp_path / f"{field}.yaml"
        path.write_text(yaml.safe_dump({"experiments": [experiment]}))
        with pytest.raises(ConfigError, match=field):
            load_experiments(path)
    overlapping = [THREE, {**THREE, "name": "later", "start": "2021-01-01"}]
    path = tmp_path / "overlap.yaml"
    path.write_text(yaml.safe_dump({"experiments": overlapping}))
    with pytest.raises(ConfigError, match="overlap"):
        load_experiments(path)


def test_intervals_and_test_against_hand_worked_values() -> None:
    low, high = wilson(8, 10)  # p = 0.8, z = 1.96: (0.8 + 0.19208) / 1.38416 ± …
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 0.0)
    # 30/100 vs 45/100: pooled 0.375, se = sqrt(.375 × .625 × .02) = 0.068465, z = 2.1909
    found = two_proportions(30, 100, 45, 100)
    assert found["difference"] == pytest.approx(0.15)
    assert found["p_value"] == pytest.approx(0.02846, abs=1e-4)
    se = (0.3 * 0.7 / 100 + 0.45 * 0.55 / 100) ** 0.5
    assert found["ci95"] == pytest.approx([0.15 - 1.959964 * se, 0.15 + 1.959964 * se])


def _impressions(rows: list[tuple[str, str, str, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "type": "impression",
                "recommendation_id": rid,
                "client_id": client,
                "items": items,
                "sources": ["ease"] * len(items),
                "experiment": "blend-test",
                "arm": arm,
                "timestamp": "2026-01-01T00:00:00+00:00",
            }
            for rid, client, arm, items in rows
        ]
    )


def test_attribution_by_id_and_by_window() -> None:
    shown = _impressions([("r1", "c1", "a", ["x", "y"]), ("r2", "c1", "a", ["y", "z"])])
    shown.loc[1, "timestamp"] = "2026-01-03T00:00:00+00:00"
    events = pd.DataFrame(
        [
            {
                "type": "click",
                "client_id": "c1",
                "item_id": "x",
                "recommendation_id": "r1",
                "timestamp": "2026-01-01T00:01:00+00:00",
            },
            {
                "type": "purchase",
                "client_id": "c1",
                "item_id": "y",
                "price": 2.0,
                "quantity": 3,
                "timestamp": "2026-01-04T00:00:00+00:00",
            },  # last list showing y: r2
            {
                "type": "purchase",
                "client_id": "c1",
                "item_id": "z",
                "timestamp": "2026-01-11T00:00:01+00:00",
            },  # 8 days after r2: outside
            {
                "type": "purchase",
                "client_id": "c2",
                "item_id": "x",
                "timestamp": "2026-01-02T00:00:00+00:00",
            },  # never shown to c2
        ]
    )
    found = attribute(shown, events)
    assert found[["type", "item_id", "recommendation_id", "position"]].values.tolist() == [
        ["click", "x", "r1", 1],
        ["purchase", "y", "r2", 1],
    ]
    assert found["revenue"].tolist() == [0.0, 6.0]


def test_report_counts_and_flags_a_sample_ratio_mismatch() -> None:
    experiment = Experiment.model_validate(
        {**THREE, "arms": THREE["arms"][:2]}
        | {"arms": [{"name": "a", "share": 50}, {"name": "b", "share": 50}]}
    )
    rows = [(f"a{i}", f"ca{i}", "a", ["x"]) for i in range(1000)]
    rows += [(f"b{i}", f"cb{i}", "b", ["x"]) for i in range(800)]
    shown = _impressions(rows)
    day = "2026-01-02T00:00:00+00:00"
    buys = [
        {"type": "purchase", "client_id": client, "item_id": "x", "timestamp": day, "price": 1.0}
        for client in [*(f"ca{i}" for i in range(100)), *(f"cb{i}" for i in range(160))]
    ]
    found = arm_report(shown, attribute(shown, pd.DataFrame(buys)), experiment)
    a, b = found["arms"]["a"], found["arms"]["b"]
    assert (a["lists"], a["conversions"], b["lists"], b["conversions"]) == (1000, 100, 800, 160)
    assert a["revenue_per_1000_lists"] == pytest.approx(100.0)
    assert b["vs_control"]["conversion"]["difference"] == pytest.approx(0.2 - 0.1)
    assert found["srm"]["mismatch"] is True and found["srm"]["p_value"] < 1e-5  # 1000 vs 800
    balanced = _impressions(rows[:1000] + [(f"b{i}", f"cb{i}", "b", ["x"]) for i in range(990)])
    assert (
        arm_report(balanced, attribute(balanced, pd.DataFrame(buys)), experiment)["srm"]["mismatch"]
        is False
    )


def test_service_serves_each_client_its_arm(bundles: Path, tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump({"experiments": [THREE]}))
    settings = settings_for(bundles, tmp_path, experiments_path=path)
    plain = settings_for(bundles, tmp_path / "plain", blend_weights={"popular": 1.0})
    who, _ = a_client(bundles)
    with (
        TestClient(create_app(settings), client=LOOPBACK) as client,
        TestClient(create_app(plain), client=LOOPBACK) as popular,
    ):
        clients = [who, *(f"cold-{i}" for i in range(30))]
        served: set[str] = set()
        for name in clients:
            body = client.get(f"/v1/clients/{name}/recommendations?k=5").json()
            arm = _arm_by_hand(THREE, name)
            served.add(arm)
            assert (body["experiment"], body["arm"]) == ("blend-test", arm)
            if arm == "b":  # the popularity-only blend
                alone = popular.get(f"/v1/clients/{name}/recommendations?k=5").json()
                assert [i["item_id"] for i in body["items"]] == [
                    i["item_id"] for i in alone["items"]
                ]
        assert served == {"a", "b", "c"}  # b's popularity check above did run
        again = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
        assert again["cached"] is True and again["arm"] == _arm_by_hand(THREE, who)
        offers = client.get(f"/v1/clients/{who}/next-best-offers").json()
        assert offers["arm"] == _arm_by_hand(THREE, who)
        context = client.app.state.context  # type: ignore[attr-defined]
        client.portal.call(context.impressions.flush)  # type: ignore[union-attr]
    logged = decode((tmp_path / "impressions.jsonl").read_bytes())
    assert {r["arm"] for r in logged if r["client_id"] == who} == {_arm_by_hand(THREE, who)}


def test_report_command_reads_logs_and_logs_mlflow_runs(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    two = {**THREE, "arms": [{"name": "a", "share": 50}, {"name": "b", "share": 50}]}
    path.write_text(yaml.safe_dump({"experiments": [two]}))
    shown = _impressions([("r1", "c1", "a", ["x"]), ("r2", "c2", "b", ["x"])])
    shown.to_json(tmp_path / "impressions.jsonl", orient="records", lines=True)
    (tmp_path / "events.jsonl").write_text(
        json.dumps(
            {
                "type": "purchase",
                "client_id": "c2",
                "item_id": "x",
                "price": 5.0,
                "timestamp": "2026-01-02T00:00:00+00:00",
            }
        )
        + "\n"
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        args = ["experiments", "report", "--experiments", str(path), "--json"]
        for log in ("impressions", "events", "outcomes"):
            args += [f"--{log}", str(tmp_path / f"{log}.jsonl")]
        result = CliRunner().invoke(cli, args)
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["arms"]["b"]["conversions"] == 1 and found["arms"]["a"]["conversions"] == 0
    assert found["arms"]["b"]["revenue_per_1000_lists"] == pytest.approx(5000.0)
    assert found["sources"]["ease"] == {"shown": 2, "clicks": 0, "conversions": 1, "revenue": 5.0}
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["recsys"])
    assert sorted(runs["tags.arm"]) == ["a", "b"]


def test_simulator_on_the_sample(sample_data: Path) -> None:
    args = ["experiments", "simulate", "--events", str(sample_data), "--format", "online-retail"]
    result = CliRunner().invoke(cli, [*args, "--cutoff", "2010-09-09", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["control"] == "popular" and set(found["arms"]) == {"popular", "hybrid"}
    popular, hybrid = found["arms"]["popular"], found["arms"]["hybrid"]
    assert popular["lists"] + hybrid["lists"] > 300
    assert hybrid["conversion"] > popular["conversion"]  # as offline NDCG ranks them
    assert popular["ci95"][0] <= popular["conversion"] <= popular["ci95"][1]
    bad = CliRunner().invoke(cli, [*args, "--cutoff", "2030-01-01"])
    assert bad.exit_code == 4 and "cutoff" in bad.output


def _wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % score interval: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    z, p = 1.959963984540054, k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def test_experiments_page_shows_the_arms(bundle: Bundle, bundles: Path, tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump({"experiments": [THREE]}))
    known = [str(c) for c in bundle.data.clients.ids[:40]]
    with TestClient(
        create_app(settings_for(bundles, tmp_path, experiments_path=path)), client=LOOPBACK
    ) as client:
        for i, who in enumerate(known):
            body = client.get(f"/v1/clients/{who}/recommendations?k=3").json()
            if i % 4 == 0:  # some buy the first item they were shown
                event = {"client_id": who, "item_id": body["items"][0]["item_id"]}
                event["recommendation_id"] = body["recommendation_id"]
                assert client.post("/v1/events", json=event).status_code == 200
        page = client.get("/ui/experiments")
    assert page.status_code == 200 and "Experiment blend-test" in page.text
    # By hand: one list per client, in the arm its SHA-256 bucket says; a conversion
    # per list whose first item was bought (every 4th client); no click, no price.
    arm_of = {who: _arm_by_hand(THREE, who) for who in known}
    lists = Counter(arm_of.values())
    bought = Counter(arm_of[who] for who in known[::4])
    assert set(lists) == {"a", "b", "c"} and set(bought) >= {"a", "b"}  # a real comparison
    shown = {cells[0]: cells[1:] for _, cells in rows(page.text, "arm")}
    assert list(shown) == ["a", "b", "c"]
    top = 0.01
    for name, (n, ctr, conversion, revenue, versus) in shown.items():
        k = bought[name]
        low, high = _wilson_by_hand(k, lists[name])
        top = max(top, high)
        assert int(n) == lists[name], name
        assert ctr == f"0.000 [0.000, {_wilson_by_hand(0, lists[name])[1]:.3f}]", name
        assert conversion == f"{k / lists[name]:.3f} [{low:.3f}, {high:.3f}]", name
        assert revenue == "0.0 [0.0, 0.0]", name
        if name == "a":
            assert versus == "control"
            continue
        n_a, k_a = lists["a"], bought["a"]  # pooled two-proportion z-test against a
        pooled = (k_a + k) / (n_a + lists[name])
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / lists[name]))
        difference = k / lists[name] - k_a / n_a
        p_value = math.erfc(abs(difference) / se / math.sqrt(2)) if se else 1.0
        assert versus == f"{difference:+.3f} (p = {p_value:.2g})", name
    # Sample ratio: chi-square of clients per arm against 50/30/20, 2 degrees of freedom,
    # whose tail is exp(-x/2).
    expected = {"a": 20.0, "b": 12.0, "c": 8.0}  # 40 clients × shares
    chi2 = sum((lists[a] - e) ** 2 / e for a, e in expected.items())
    srm = math.exp(-chi2 / 2)
    verdict = "mismatch" if srm < 0.001 else "ok"
    assert text_of(page.text, "srm") == f"{verdict} (p = {srm:.2g})"
    # The chart: a bar per arm, conversion × (560 - 190) / the highest upper bound.
    bars = re.findall(r'<rect class="bar" x="120" y="[\d.]+" width="([\d.]+)"', page.text)
    widths = [f"{bought[a] / lists[a] * 370 / top:.1f}" for a in ("a", "b", "c")]
    assert bars == widths
    with TestClient(
        create_app(settings_for(bundles, tmp_path / "none")), client=LOOPBACK
    ) as client:
        assert 'id="none"' in client.get("/ui/experiments").text
