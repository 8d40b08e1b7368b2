"""Analyst rules replaced through the API: validated, applied at once, saved, and never
answered from lists cached under the old rules."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from recsys.rules.cross_sell import load_cross_sell
from serving.app import create_app
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK

ADMIN, READ = {"X-API-Key": "admin"}, {"X-API-Key": "read"}


def _campaign(trigger: str, offer: str) -> dict[str, object]:
    rule = {
        "id": "test-campaign",
        "if_bought": {"items": [trigger]},
        "offer": [offer],
        "reason": "Test campaign for loyal buyers",
        "pinned": True,
    }
    return {"version": "2026-11-22-test", "rules": [rule]}


def test_new_rules_apply_at_once_and_are_saved(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, admin_api_key="admin", read_api_key="read")
    who, bought = a_client(bundles)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        assert c.get("/v1/cross-sell/rules", headers=READ).json()["version"] == "2026-11-01"
        url = f"/v1/clients/{who}/recommendations?k=5"
        before = c.get(url, headers=READ).json()
        assert c.get(url, headers=READ).json()["cached"] is True
        offer = next(i for i in ("22086", "21212", "84879", "85099B") if i not in bought)
        answer = c.put(
            "/v1/cross-sell/rules", json=_campaign(sorted(bought)[0], offer), headers=ADMIN
        )
        assert answer.status_code == 200 and answer.json()["rules"] == 1
        stale = c.get(url, headers=READ).json()  # the old rules' list, marked, meanwhile
        assert stale["stale"] is True and stale["items"] == before["items"]
        deadline = time.monotonic() + 20
        while (after := c.get(url, headers=READ).json()).get("stale"):
            assert time.monotonic() < deadline, "the new rules' list never came"
            time.sleep(0.02)
        top = after["items"][0]
        assert top["item_id"] == offer and top["item_id"] != before["items"][0]["item_id"]
        assert top["reasons"][0]["text"] == "Marketing rule: Test campaign for loyal buyers"
        assert top["reasons"][0]["evidence"]["version"] == "2026-11-22-test"
        assert c.get("/v1/cross-sell/rules", headers=READ).json()["version"] == "2026-11-22-test"
    saved = load_cross_sell(settings.cross_sell_path)  # type: ignore[arg-type]
    assert saved.version == "2026-11-22-test" and saved.rules[0].offer == (offer,)


def test_rule_changes_need_the_admin_key_and_valid_rules(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, admin_api_key="admin", read_api_key="read")
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        good = _campaign("85048", "22086")
        assert c.put("/v1/cross-sell/rules", json=good, headers=READ).status_code == 403
        assert c.put("/v1/cross-sell/rules", json=good).status_code == 401
        empty_offer = {**good, "rules": [{**good["rules"][0], "offer": []}]}  # type: ignore[index]
        bad = c.put("/v1/cross-sell/rules", json=empty_offer, headers=ADMIN)
        assert bad.status_code == 422 and "offer" in bad.json()["detail"][0]["loc"]
        twice = {**good, "rules": [good["rules"][0], good["rules"][0]]}  # type: ignore[index]
        assert c.put("/v1/cross-sell/rules", json=twice, headers=ADMIN).status_code == 422
        assert c.get("/v1/cross-sell/rules", headers=READ).json()["version"] == "2026-11-01"
    assert load_cross_sell(settings.cross_sell_path).version == "2026-11-01"  # type: ignore[arg-type]
