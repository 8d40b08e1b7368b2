"""Deleting a client: at once in the service, and in every later export and training."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.data import CleaningConfig, load_events
from serving.app import create_app
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK
from training.cli import app as cli


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_cleaning_drops_every_line_of_a_deleted_client(
    sample_data: Path, sample_raw: pd.DataFrame
) -> None:
    raw_ids = sample_raw["Customer ID"]
    who = raw_ids[raw_ids != ""].value_counts().index[3]  # e.g. "13085.0"
    expected = int((raw_ids == who).sum())  # counted on the raw strings
    plain = who.removesuffix(".0")
    loaded = load_events(sample_data, "online-retail", CleaningConfig(tombstones={_sha(plain)}))
    assert loaded.report.dropped["deleted_clients"] == expected > 0
    assert plain not in set(loaded.events["client_id"].astype(str))
    usual = load_events(sample_data, "online-retail")
    theirs = int((usual.events["client_id"].astype(str) == plain).sum())
    assert loaded.report.rows_kept == usual.report.rows_kept - theirs


def test_deleted_client_gets_cold_start_and_loses_features(
    bundles: Path, tmp_path: Path, sample_features: Path, caplog: pytest.LogCaptureFixture
) -> None:
    who, _ = a_client(bundles)
    settings = settings_for(bundles, tmp_path, features_path=sample_features, admin_api_key="adm")
    admin = {"X-API-Key": "adm"}
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        assert client.get(f"/v1/clients/{who}/next-best-offers").json()["profile"] is not None
        own = client.get(f"/v1/clients/{who}/recommendations?k=8").json()
        cold = client.get("/v1/clients/never-seen/recommendations?k=8").json()
        assert own["items"] != cold["items"]
        client.post("/v1/events", json={"client_id": who, "item_id": "85123A"}, headers=admin)
        assert client.delete(f"/v1/clients/{who}").status_code == 401  # admin only
        with caplog.at_level(logging.INFO, logger="recsys.serving"):
            assert client.delete(f"/v1/clients/{who}", headers=admin).json() == {"deleted": True}
        assert who not in caplog.text and "deleted" in caplog.text
        after = client.get(f"/v1/clients/{who}/recommendations?k=8").json()
        assert after["cached"] is False and after["items"] == cold["items"]
        offers = client.get(f"/v1/clients/{who}/next-best-offers").json()
        assert offers["profile"] is None and offers["last_orders"] == []
        assert client.app.state.context.features.get(who) is None  # type: ignore[attr-defined]
    tombstones = (tmp_path / "tombstones.txt").read_text()
    assert tombstones.strip() == _sha(who) and who not in tombstones
    with TestClient(
        create_app(settings), client=LOOPBACK
    ) as client:  # the tombstone outlives a restart
        again = client.get(f"/v1/clients/{who}/recommendations?k=8").json()
        assert again["items"] == cold["items"]


def test_training_and_export_leave_a_deleted_client_out(
    bundles: Path, tmp_path: Path, sample_data: Path, shared_state: str
) -> None:
    redis_url = shared_state
    who, _ = a_client(bundles)
    settings = settings_for(bundles, tmp_path, redis_url=redis_url, events_stream="forgetting")
    events = [{"client_id": who, "item_id": "85123A"}, {"client_id": "fresh-1", "item_id": "22423"}]
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        client.post("/v1/events", json={"events": events})
        client.delete(f"/v1/clients/{who}")
    exported = tmp_path / "exported.parquet"
    # No tombstone file named: the stream's own deletion record is enough.
    args = ["events", "export", "--redis-url", redis_url, "--stream", "forgetting"]
    args += ["--out", str(exported)]
    result = CliRunner().invoke(cli, [*args, "--tombstones", str(tmp_path / "none.txt")])
    assert result.exit_code == 0, result.output
    kept = pd.read_parquet(exported)
    assert set(kept["client_id"]) == {"fresh-1"} and "client_hash" not in kept.columns
    out = tmp_path / "bundles"
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        for source in (str(tmp_path / "tombstones.txt"), redis_url):
            train = ["train", "--events", str(sample_data), "--format", "online-retail"]
            train += ["--extra-events", str(exported), "--models", "popular", "--out", str(out)]
            result = CliRunner().invoke(cli, [*train, "--tombstones", source])
            assert result.exit_code == 0, result.output
    finally:
        patch.undo()
    for path in (p for p in out.iterdir() if p.is_dir()):
        clients = set(Bundle.load(path).data.clients.ids.tolist())
        assert who not in clients and "fresh-1" in clients
