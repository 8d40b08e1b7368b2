"""``/v1/campaigns``: campaigns defined through the API (validated as the YAML is,
admin only, 201 new and 200 replaced), listed and read; and a client's campaigns read
from a hand-made build's members file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from recsys.campaigns import CampaignStore
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import settings_for
from tests.servers import LOOPBACK

ADMIN, READ = {"X-API-Key": "admin"}, {"X-API-Key": "read"}


def _definition(item: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "audience": {"kind": "item", "value": item, "size": 500},
        "offer": {"items": [item]},
        "channel": "email",
        "start": "2011-01-10",
        "end": "2011-01-24",
        "holdout": 20,
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def settings(bundles: Path, tmp_path: Path) -> ServingSettings:
    return settings_for(bundles, tmp_path, campaigns_path=tmp_path / "campaigns")


@pytest.fixture
def api(settings: ServingSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client


def _an_item(bundle: Bundle) -> str:
    return str(bundle.data.items.ids[0])


def test_define_read_replace_and_list(
    api: TestClient, settings: ServingSettings, bundle: Bundle
) -> None:
    item = _an_item(bundle)
    sent = _definition(item)
    created = api.put("/v1/campaigns/spring", json=sent)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "spring",
        "audience": {"kind": "item", "value": item, "clients": None, "segment": None, "size": 500},
        "offer": {"items": [item], "next_best": 3},
        "channel": "email",
        "start": "2011-01-10",
        "end": "2011-01-24",
        "holdout": 20.0,
        "contact_cap": None,
    }
    read = api.get("/v1/campaigns/spring")
    assert read.status_code == 200
    assert read.json() == {"definition": created.json(), "build": None}
    stored = CampaignStore(settings.campaigns_path).definition("spring")
    assert stored.model_dump(mode="json") == created.json()

    # The same name again: replaced (200), the body's matching name accepted.
    again = {**sent, "name": "spring", "channel": "sms", "holdout": 10, "contact_cap": 3}
    replaced = api.put("/v1/campaigns/spring", json=again)
    assert replaced.status_code == 200, replaced.text
    body = api.get("/v1/campaigns/spring").json()["definition"]
    assert (body["channel"], body["holdout"], body["contact_cap"]) == ("sms", 10.0, 3)
    assert CampaignStore(settings.campaigns_path).definition("spring").channel == "sms"

    assert api.put("/v1/campaigns/autumn", json=_definition(item)).status_code == 201
    report = {"built_at": "2011-01-09T08:00:00+00:00", "members": 7, "treatment": 5}
    CampaignStore(settings.campaigns_path).record(
        "autumn", _members([]), {**report, "holdout": 2, "over_cap": 3}
    )
    listed = api.get("/v1/campaigns").json()
    assert [c["name"] for c in listed] == ["autumn", "spring"]
    autumn, spring = listed
    assert (autumn["members"], autumn["treatment"], autumn["holdout"]) == (7, 5, 2)
    assert (autumn["over_cap"], autumn["built_at"]) == (3, report["built_at"])
    assert (spring["channel"], spring["start"], spring["end"]) == (
        "sms",
        "2011-01-10",
        "2011-01-24",
    )
    assert spring["built_at"] is None and spring["members"] is None
    assert api.get("/v1/campaigns/autumn").json()["build"]["over_cap"] == 3
    # Every definition was recorded in the audit log, new or replaced.
    lines = [json.loads(line) for line in settings.audit_path.read_text().splitlines()]
    defined = [(e["action"], e["target"], e["detail"]) for e in lines]
    assert defined == [
        ("campaign.define", "spring", {"replaced": False}),
        ("campaign.define", "spring", {"replaced": True}),
        ("campaign.define", "autumn", {"replaced": False}),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"audience": {"kind": "everyone"}}, "audience.kind"),
        ({"end": "2011-01-01"}, "end"),  # before the start
        ({"end": "2011-01-10"}, "end"),  # the start itself: an empty window
        ({"holdout": 80}, "holdout"),
        ({"channel": None}, "channel"),  # missing
        ({"name": "another"}, "name"),  # not the path's name
        ({"surprise": 1}, "surprise"),  # unknown field
        ({"contact_cap": "2"}, "contact_cap"),
        ({"start": 1294617600}, "start"),  # a number is not a date
        ({"audience": {"kind": "segment", "value": "vips"}}, "audience.value"),  # no such segment
        ({"audience": {"kind": "repeat_due", "segment": "vips"}}, "audience.segment"),
    ],
)
def test_a_bad_definition_is_a_422_naming_the_field(
    api: TestClient, settings: ServingSettings, bundle: Bundle, changes: dict[str, Any], field: str
) -> None:
    answer = api.put("/v1/campaigns/spring", json=_definition(_an_item(bundle), **changes))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("campaign: ")
    assert re.search(rf"(^|[ .]){re.escape(field)}: ", detail), detail
    assert not (settings.campaigns_path / "spring.yaml").exists()  # nothing written
    assert api.get("/v1/campaigns/spring").status_code == 404


def test_a_bad_name_or_body_shape_is_refused(api: TestClient, bundle: Bundle) -> None:
    good = _definition(_an_item(bundle))
    bad_name = api.put("/v1/campaigns/spring%20sale", json=good)
    assert bad_name.status_code == 422 and bad_name.json()["detail"][0]["loc"] == ["path", "name"]
    not_an_object = api.put("/v1/campaigns/spring", json=[good])
    assert not_an_object.status_code == 422
    assert api.get("/v1/campaigns").json() == []


def test_unknown_campaign_is_a_404_naming_it(api: TestClient) -> None:
    answer = api.get("/v1/campaigns/nothing-here")
    assert answer.status_code == 404 and "'nothing-here'" in answer.json()["detail"]


def test_defining_needs_the_admin_key(bundles: Path, tmp_path: Path, bundle: Bundle) -> None:
    settings = settings_for(
        bundles,
        tmp_path,
        campaigns_path=tmp_path / "campaigns",
        admin_api_key="admin",
        read_api_key="read",
    )
    good = _definition(_an_item(bundle))
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        assert c.put("/v1/campaigns/spring", json=good).status_code == 401
        assert c.put("/v1/campaigns/spring", json=good, headers=READ).status_code == 403
        assert not (settings.campaigns_path / "spring.yaml").exists()
        assert c.get("/v1/campaigns/spring", headers=READ).status_code == 404
        assert c.put("/v1/campaigns/spring", json=good, headers=ADMIN).status_code == 201
        assert c.get("/v1/campaigns/spring").status_code == 401  # reads need a key too
        assert c.get("/v1/campaigns", headers=READ).json()[0]["name"] == "spring"
        assert c.get("/v1/campaigns/spring", headers=READ).status_code == 200


def _members(rows: list[tuple[str, str, str | None, list[str], list[str]]]) -> pd.DataFrame:
    columns = ["client_id", "group", "segment", "offers", "reasons"]
    table = pd.DataFrame(rows, columns=columns)
    return table.assign(channel="email")


def test_a_clients_campaigns(
    api: TestClient, settings: ServingSettings, bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [str(c) for c in bundle.data.clients.ids[:3]]
    items = [str(i) for i in bundle.data.items.ids[:3]]
    for name, start, end in (
        ("spring", "2011-01-10", "2011-01-24"),
        ("summer", "2011-06-01", "2011-06-08"),
    ):
        body = _definition(items[0], start=start, end=end)
        assert api.put(f"/v1/campaigns/{name}", json=body).status_code == 201
    store = CampaignStore(settings.campaigns_path)
    reasons = ["Often bought with your last order", "Due again"]
    store.record(
        "spring",
        _members(
            [
                (clients[0], "treatment", "Champions", items[:2], reasons),
                (clients[1], "holdout", None, [items[2]], ["Popular in your segment"]),
            ]
        ),
        {"members": 2},
    )
    store.record("summer", _members([(clients[0], "holdout", "Champions", [], [])]), {})
    book = api.app.state.campaigns  # type: ignore[attr-defined]
    reads: list[str] = []
    members = book.store.members

    def counted(name: str) -> pd.DataFrame:
        reads.append(name)
        return members(name)

    monkeypatch.setattr(book.store, "members", counted)

    first = api.get(f"/v1/clients/{clients[0]}/campaigns")
    assert first.status_code == 200
    assert first.json() == [  # the newest start first
        {
            "name": "summer",
            "channel": "email",
            "group": "holdout",
            "start": "2011-06-01",
            "end": "2011-06-08",
            "offers": [],
        },
        {
            "name": "spring",
            "channel": "email",
            "group": "treatment",
            "start": "2011-01-10",
            "end": "2011-01-24",
            "offers": [
                {"item_id": items[0], "reason": reasons[0]},
                {"item_id": items[1], "reason": reasons[1]},
            ],
        },
    ]
    second = api.get(f"/v1/clients/{clients[1]}/campaigns").json()
    assert [(c["name"], c["group"], c["offers"]) for c in second] == [
        ("spring", "holdout", [{"item_id": items[2], "reason": "Popular in your segment"}])
    ]
    assert sorted(reads) == ["spring", "summer"]  # each file read once: then the cache

    assert api.get(f"/v1/clients/{clients[2]}/campaigns").json() == []  # in none
    assert api.get("/v1/clients/nobody-at-all/campaigns").json() == []  # unknown
    assert sorted(reads) == ["spring", "summer"]

    # A rebuild changes the file: read again, the new groups answered.
    store.record("spring", _members([(clients[2], "treatment", None, [items[1]], [""])]), {})
    assert api.get(f"/v1/clients/{clients[0]}/campaigns").json()[0]["name"] == "summer"
    assert len(api.get(f"/v1/clients/{clients[0]}/campaigns").json()) == 1
    assert api.get(f"/v1/clients/{clients[2]}/campaigns").json()[0]["offers"] == [
        {"item_id": items[1], "reason": ""}
    ]
    assert sorted(reads) == ["spring", "spring", "summer"]
    # A deleted client's memberships are not shown (its offers and group are personal data).
    assert api.delete(f"/v1/clients/{clients[2]}").status_code == 200
    assert api.get(f"/v1/clients/{clients[2]}/campaigns").json() == []
