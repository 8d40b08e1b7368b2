"""Who may call what: protected mode without keys, scoped keys from the access file,
rotation and revocation while the service runs (in process; across real replicas and
from another network namespace in tests/test_access_net.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.records import FileAccess
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK, free_port, until

AWAY = ("203.0.113.9", 4000)  # TEST-NET-3: never loopback


def _event(bundles: Path) -> dict[str, str]:
    client, bought = a_client(bundles)
    return {"client_id": client, "item_id": sorted(bought)[0], "type": "view"}


def test_without_keys_writes_answer_loopback_only(bundles: Path, tmp_path: Path) -> None:
    app = create_app(settings_for(bundles, tmp_path))
    client, _ = a_client(bundles)
    with TestClient(app, client=AWAY) as away, TestClient(app, client=LOOPBACK) as local:
        refused = away.post("/v1/events", json=_event(bundles))
        assert refused.status_code == 403
        assert "RECSYS_OPEN_ACCESS" in refused.json()["detail"]
        assert "recsys keys add" in refused.json()["detail"]
        for method, path in (("DELETE", f"/v1/clients/{client}"), ("POST", "/v1/model/reload")):
            assert away.request(method, path).status_code == 403
        assert away.get(f"/v1/clients/{client}/recommendations").status_code == 200
        assert local.post("/v1/events", json=_event(bundles)).status_code == 200
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 1  # only the loopback call was stored


def test_open_access_restores_writes_from_anywhere(bundles: Path, tmp_path: Path) -> None:
    app = create_app(settings_for(bundles, tmp_path, open_access=True))
    with TestClient(app, client=AWAY) as away:
        assert away.post("/v1/events", json=_event(bundles)).status_code == 200


def test_scoped_keys_from_the_access_file(bundles: Path, tmp_path: Path) -> None:
    access = FileAccess(tmp_path / "access.json")
    shop = access.add_key("shop", ["read"])
    ingest = access.add_key("ingest", ["events"])
    admin = access.add_key("ops", ["admin"])
    client, _ = a_client(bundles)
    recommendations = f"/v1/clients/{client}/recommendations"
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=AWAY) as api:
        assert api.get(recommendations).status_code == 401  # a key carries read now
        assert api.get(recommendations, headers={"X-API-Key": shop}).status_code == 200
        assert api.get(recommendations, headers={"X-API-Key": "rsk_guess"}).status_code == 403
        sent = api.post("/v1/events", json=_event(bundles), headers={"X-API-Key": shop})
        assert sent.status_code == 403 and "'events'" in sent.json()["detail"]
        assert api.post("/v1/events", json=_event(bundles)).status_code == 401
        ok = api.post("/v1/events", json=_event(bundles), headers={"X-API-Key": ingest})
        assert ok.status_code == 200
        item = {"title": "Mug", "category": "kitchen"}
        put = api.put("/v1/items/NEW-1", json=item, headers={"X-API-Key": ingest})
        assert put.status_code == 403 and "'catalogue'" in put.json()["detail"]
        assert api.put("/v1/items/NEW-1", json=item, headers={"X-API-Key": admin}).is_success


def test_legacy_settings_are_two_keys(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, read_api_key="r-key", admin_api_key="a-key")
    client, _ = a_client(bundles)
    with TestClient(create_app(settings), client=AWAY) as api:
        path = f"/v1/clients/{client}/recommendations"
        assert api.get(path, headers={"X-API-Key": "r-key"}).status_code == 200
        assert api.get(path, headers={"X-API-Key": "a-key"}).status_code == 200
        sent = api.post("/v1/events", json=_event(bundles), headers={"X-API-Key": "r-key"})
        assert sent.status_code == 403
        sent = api.post("/v1/events", json=_event(bundles), headers={"X-API-Key": "a-key"})
        assert sent.status_code == 200


@pytest.mark.parametrize("path", ["recommendations", "next-best-offers"])
def test_a_rotated_key_works_and_a_revoked_one_stops(
    bundles: Path, tmp_path: Path, path: str
) -> None:
    """Also through the cached fast path: a list cached for a good key is not served
    to a revoked one."""
    access = FileAccess(tmp_path / "access.json")
    old = access.add_key("shop", ["read"])
    client, _ = a_client(bundles)
    url = f"/v1/clients/{client}/{path}"
    settings = settings_for(bundles, tmp_path, access_reload_seconds=0.1)
    with TestClient(create_app(settings), client=AWAY) as api:
        assert api.get(url, headers={"X-API-Key": old}).status_code == 200
        new = access.add_key("shop-2", ["read"])
        until(lambda: api.get(url, headers={"X-API-Key": new}).status_code == 200, 10, "new key")
        access.revoke_key("shop")
        until(lambda: api.get(url, headers={"X-API-Key": old}).status_code == 403, 10, "revoked")
        assert api.get(url, headers={"X-API-Key": new}).status_code == 200


def test_a_broken_access_file_keeps_the_last_keys(bundles: Path, tmp_path: Path) -> None:
    access = FileAccess(tmp_path / "access.json")
    key = access.add_key("shop", ["read"])
    client, _ = a_client(bundles)
    url = f"/v1/clients/{client}/recommendations"
    settings = settings_for(bundles, tmp_path, access_reload_seconds=0.1)
    with TestClient(create_app(settings), client=AWAY) as api:
        (tmp_path / "access.json").write_text("{not json")
        time.sleep(0.5)  # a few reloads, each failing
        assert api.get(url, headers={"X-API-Key": key}).status_code == 200
        assert api.get(url).status_code == 401


def test_a_key_sent_to_a_service_without_keys_is_ignored(bundles: Path, tmp_path: Path) -> None:
    client, _ = a_client(bundles)
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=AWAY) as api:
        for query in ("", "?price_max=1000"):  # the fast path, then the router
            url = f"/v1/clients/{client}/recommendations{query}"
            assert api.get(url, headers={"X-API-Key": "anything"}).status_code == 200


def test_made_up_keys_share_their_address_bucket(bundles: Path, tmp_path: Path) -> None:
    FileAccess(tmp_path / "access.json").add_key("ops", ["admin"])
    settings = settings_for(bundles, tmp_path, rate_limit_per_minute=3)
    client, _ = a_client(bundles)
    url = f"/v1/clients/{client}/recommendations"
    with TestClient(create_app(settings), client=AWAY) as api:
        answers = [api.get(url, headers={"X-API-Key": f"guess-{n}"}) for n in range(4)]
    assert [a.status_code for a in answers] == [403, 403, 403, 429]


def test_pages_without_users_act_only_with_scopes_no_key_carries(
    bundles: Path, tmp_path: Path
) -> None:
    FileAccess(tmp_path / "access.json").add_key("crm", ["read", "events"])
    client, _ = a_client(bundles)
    settings = settings_for(bundles, tmp_path)
    with TestClient(create_app(settings), client=LOOPBACK) as local:
        assert local.get(f"/ui/clients/{client}").status_code == 403  # read needs a key
    FileAccess(tmp_path / "access.json").revoke_key("crm")
    FileAccess(tmp_path / "access.json").add_key("sync", ["events"])
    with TestClient(create_app(settings), client=LOOPBACK) as local:
        screen = local.get(f"/ui/clients/{client}")
        assert screen.status_code == 200  # reads: no key carries them
        token = screen.text.split('name="csrf" value="')[1].split('"')[0]
        item = screen.text.split('data-item="')[1].split('"')[0]
        form = {"csrf": token, "outcome": "declined", "channel": "call"}
        sent = local.post(f"/ui/clients/{client}/offers/{item}/outcome", data=form)
        assert sent.status_code == 403 and "events scope" in sent.text
    assert not settings.outcomes_path.exists() or not settings.outcomes_path.read_text()


def test_redis_down_at_start_fails_closed(bundles: Path, tmp_path: Path) -> None:
    """Keys in Redis cannot be read: the service starts, and every route needs a key
    (the settings' keys work) until Redis answers."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for(bundles, tmp_path, redis_url=dead, admin_api_key="a-key")
    client, _ = a_client(bundles)
    url = f"/v1/clients/{client}/recommendations"
    with TestClient(create_app(settings), client=LOOPBACK) as api:
        assert api.get(url).status_code == 401
        assert api.get(url, headers={"X-API-Key": "a-key"}).status_code == 200
