"""The audit log of a scripted admin session: one line per admin action, who did it
and from where, refused attempts not logged, and never a key in it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.records import FileAccess
from tests.conftest import a_client, settings_for

AWAY = ("203.0.113.9", 4000)


def test_one_line_per_admin_action(bundles: Path, tmp_path: Path) -> None:
    access = FileAccess(tmp_path / "access.json")
    ops, cat = access.add_key("ops", ["admin"]), access.add_key("cat", ["catalogue"])
    client, _ = a_client(bundles)
    item = {"title": "Mug", "category": "kitchen"}
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=AWAY) as api:
        as_ops, as_cat = {"X-API-Key": ops}, {"X-API-Key": cat}
        rules = api.get("/v1/cross-sell/rules").json()
        script = [
            api.put("/v1/items/NEW-1", json=item, headers=as_cat),
            api.post(
                "/v1/items/batch", json={"items": [{"item_id": "NEW-2", **item}]}, headers=as_cat
            ),
            api.delete("/v1/items/NEW-1", headers=as_cat),
            api.put("/v1/cross-sell/rules", json=rules, headers=as_ops),
            api.delete(f"/v1/clients/{client}", headers=as_ops),
            api.post("/v1/model/reload", headers=as_ops),
        ]
        assert all(r.is_success for r in script), [r.text for r in script]
        refused = api.delete(f"/v1/clients/{client}", headers=as_cat)  # lacks admin
        assert refused.status_code == 403
    text = (tmp_path / "audit.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(e["who"], e["action"], e["target"]) for e in lines] == [
        ("key:cat", "catalogue.upsert", "NEW-1"),
        ("key:cat", "catalogue.batch", "1 items"),
        ("key:cat", "catalogue.discontinue", "NEW-1"),
        ("key:ops", "rules.replace", rules["version"]),
        ("key:ops", "client.delete", hashlib.sha256(client.encode()).hexdigest()),
        ("key:ops", "model.reload", lines[-1]["target"]),
    ]
    assert {e["address"] for e in lines} == {AWAY[0]}
    assert ops not in text and cat not in text and f'"{client}"' not in text


def test_the_catalogue_import_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from training.cli import app as cli

    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,price\nA1,Mug,3.5\nA2,Cup,2\n")
    args = ["catalogue", "import", "--items", str(items), "--path", str(tmp_path / "c.jsonl")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (entry,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").open()]
    assert (entry["action"], entry["target"], entry["detail"]) == (
        "catalogue.import",
        "items.csv",
        {"items": 2},
    )
    assert entry["who"].startswith("cli:")
