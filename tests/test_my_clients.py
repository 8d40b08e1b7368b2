"""A manager's own clients: assigned on the screen, listed on "my clients", and the
outcomes they record carry their name (API: the key's name)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.records import FileAccess
from tests.conftest import a_client, settings_for

PASSWORD = "correct horse battery staple"
AWAY = ("203.0.113.7", 4000)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_assign_list_and_record_as_the_signed_in_manager(
    bundles: Path, tmp_path: Path, sample_features: Path
) -> None:
    settings = settings_for(bundles, tmp_path, features_path=sample_features)
    access = FileAccess(settings.access_path)
    access.add_user("ann", "manager", PASSWORD)
    key = access.add_key("crm-sync", ["events"])
    client, bought = a_client(bundles)
    with TestClient(create_app(settings), client=AWAY) as web:
        form = web.get("/ui/sign-in").text
        fields = {"username": "ann", "password": PASSWORD, "csrf": _csrf(form)}
        assert web.post("/ui/sign-in", data=fields).status_code == 200
        assert client not in web.get("/ui/my-clients").text
        screen = web.get(f"/ui/clients/{client}").text
        assigned = web.post(
            f"/ui/clients/{client}/manager", data={"manager": "ann", "csrf": _csrf(screen)}
        )
        assert assigned.status_code == 200 and 'id="manager">ann' in assigned.text
        assert f"/ui/clients/{client}" in web.get("/ui/my-clients").text
        item = re.findall(r'data-item="([^"]+)"', assigned.text)[0]
        outcome = {"csrf": _csrf(assigned.text), "outcome": "declined", "channel": "call"}
        web.post(f"/ui/clients/{client}/offers/{item}/outcome", data=outcome)
        api = {"X-API-Key": key}
        sent = web.post(
            f"/v1/clients/{client}/offers/{sorted(bought)[0]}/outcome",
            json={"outcome": "accepted", "channel": "email"},
            headers=api,
        )
        assert sent.status_code == 200
        forged = web.post(f"/ui/clients/{client}/manager", data={"manager": "eve"})
        assert forged.status_code == 403  # no CSRF token
    stored = [json.loads(line)["outcome"] for line in settings.outcomes_path.open()]
    assert [(o["outcome"], o["by"]) for o in stored] == [
        ("declined", "user:ann"),
        ("accepted", "key:crm-sync"),
    ]
