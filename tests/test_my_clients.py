"""A manager's own clients: assigned on the screen, listed on "my clients", and the
outcomes they record carry their name (API: the key's name)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd
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


def _sign_in(web: TestClient, name: str) -> None:
    form = web.get("/ui/sign-in").text
    fields = {"username": name, "password": PASSWORD, "csrf": _csrf(form)}
    assert web.post("/ui/sign-in", data=fields).status_code == 200


def _row(page: str, manager: str, period: str) -> list[str]:
    """The figures of one manager's row on the team page, as shown."""
    found = re.search(
        rf'<tr class="{period}" data-manager="{re.escape(manager)}">(.*?)</tr>', page, re.S
    )
    assert found is not None, f"no {period} row for {manager}"
    return re.findall(r"<td>([^<]*)</td>", found.group(1))[2:]


def test_assign_list_and_record_as_the_signed_in_manager(
    bundles: Path, tmp_path: Path, sample_features: Path
) -> None:
    settings = settings_for(bundles, tmp_path, features_path=sample_features)
    access = FileAccess(settings.access_path)
    access.add_user("ann", "manager", PASSWORD)
    key = access.add_key("crm-sync", ["events"])
    client, bought = a_client(bundles)
    access.add_user("ana", "analyst", PASSWORD)
    with TestClient(create_app(settings), client=AWAY) as web:
        _sign_in(web, "ann")
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
        assert web.get("/ui/team").status_code == 403  # a manager's role is too low
        bought_now = {"client_id": client, "item_id": sorted(bought)[0], "price": 2.5}
        sent = web.post("/v1/events", json={**bought_now, "quantity": 2}, headers=api)
        assert sent.status_code == 200
        _sign_in(web, "ana")  # an analyst: the team page
        team = web.get("/ui/team").text
    # Counted by hand: ann declined one offer; the key accepted one, whose item the
    # client then bought (2 × £2.50) within the window.
    assert _row(team, "ann", "day") == ["1", "1", "0", "1", "0", "0", "£0.00"]
    assert _row(team, "key:crm-sync", "day") == ["1", "1", "1", "0", "0", "1", "£5.00"]
    stored = [json.loads(line)["outcome"] for line in settings.outcomes_path.open()]
    assert [(o["outcome"], o["by"]) for o in stored] == [
        ("declined", "user:ann"),
        ("accepted", "key:crm-sync"),
    ]


def _listed(page: str) -> list[str]:
    """The client ids the links of a list page lead to, in order."""
    return [unquote(found) for found in re.findall(r'<a href="/ui/clients/([^"]+)">', page)]


def test_at_risk_first_then_cut_and_every_id_linked_whole(
    bundles: Path, tmp_path: Path, sample_features: Path
) -> None:
    """Three clients of ann's, the last by id at risk: with room for one, that one is
    listed. An id with ``&``, ``?`` and a space links to its own screen."""
    table = pd.read_parquet(sample_features)
    ids = sorted(table.index)[:3]
    table.loc[ids, "manager"] = "ann"
    table.loc[ids[-1], "churn_risk"] = True
    table.to_parquet(tmp_path / "features.parquet")
    settings = settings_for(bundles, tmp_path, features_path=tmp_path / "features.parquet")
    FileAccess(settings.access_path).add_user("ann", "manager", PASSWORD)
    odd = "a b&c?d"
    with TestClient(create_app(settings), client=AWAY) as web:
        _sign_in(web, "ann")
        screen = web.get(f"/ui/clients/{quote(odd, safe='')}").text
        fields = {"manager": "ann", "csrf": _csrf(screen)}
        assert (
            web.post(f"/ui/clients/{quote(odd, safe='')}/manager", data=fields).status_code == 200
        )
        one = web.get("/ui/my-clients", params={"limit": 1}).text
        every = web.get("/ui/my-clients").text
        linked = web.get(f"/ui/clients/{quote(odd)}")
    assert _listed(one) == [ids[-1]]
    assert _listed(every) == [ids[-1], ids[0], ids[1], odd]
    assert f'href="/ui/clients/{quote(odd)}"' in every  # as the template's urlencode writes it
    assert linked.status_code == 200 and "Client a b&amp;c?d" in linked.text
