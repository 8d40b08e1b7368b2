"""The campaign pages: a hand-made campaign (definition and members of real clients),
purchases posted to ``/v1/events``, and the effect the page shows in headless Chromium
against the same figures worked out here; who may open the pages; a member's CRM
screen naming the campaign."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from recsys.campaigns import Campaign, CampaignStore
from serving.app import create_app
from serving.auth.records import FileAccess
from serving.campaigns import canonical_events
from serving.settings import ServingSettings
from tests.browser import Page, chromium, rows, text_of
from tests.conftest import settings_for
from tests.servers import LOOPBACK, free_port, until

PASSWORD = "correct horse battery staple"
AWAY = ("203.0.113.7", 4000)
NAME = "winter-mail"
START, END = "2011-01-10", "2011-01-24"  # the window [start, end)


def _settings(bundles: Path, tmp: Path, **people: str) -> ServingSettings:
    settings = settings_for(bundles, tmp, campaigns_path=tmp / "campaigns")
    access = FileAccess(settings.access_path)
    for name, role in people.items():
        access.add_user(name, role, PASSWORD)
    return settings


def _campaign(name: str, item: str) -> Campaign:
    return Campaign.model_validate(
        {
            "name": name,
            "audience": {"kind": "item", "value": item, "size": 100},
            "channel": "email",
            "start": START,
            "end": END,
            "holdout": 20,
            "contact_cap": 2,
        }
    )


def _members(clients: list[str], items: list[str], holdout: int) -> pd.DataFrame:
    """The first clients treated, the last ``holdout`` held out; segments by turn."""
    groups = ["treatment"] * (len(clients) - holdout) + ["holdout"] * holdout
    segments = [("Champions", "At Risk", None)[n % 3] for n in range(len(clients))]
    return pd.DataFrame(
        {
            "client_id": clients,
            "group": groups,
            "channel": "email",
            "segment": segments,
            "offers": [items[:2]] * len(clients),
            "reasons": [["Bought with your usual order", "Due again"]] * len(clients),
        }
    )


def _events(treated: list[str], held: list[str], item: str) -> list[dict[str, Any]]:
    """Purchases in the window, and what must not count: a view, a purchase after the
    window, one before it (the pre period) and a retried event (the same id)."""
    inside = [
        (treated[0], 2.0, 3.5, "2011-01-12T10:00:00+00:00"),
        (treated[0], 1.0, 12.25, "2011-01-15T09:30:00+00:00"),
        (treated[1], 6.0, 1.95, "2011-01-23T23:59:00+00:00"),
        (treated[2], 1.0, 40.0, "2011-01-10T00:00:00+00:00"),
        (held[0], 3.0, 2.1, "2011-01-11T12:00:00+00:00"),
    ]
    events = [
        {"client_id": c, "item_id": item, "quantity": q, "price": p, "timestamp": t}
        for c, q, p, t in inside
    ]
    events[0]["event_id"] = "retried-1"
    return [
        *events,
        {**events[0]},  # the same event sent again (a retried batch): counted once
        {"type": "view", "client_id": treated[3], "item_id": item, "price": 99.0},
        {**events[1], "timestamp": "2011-01-24T00:00:00+00:00"},  # the end: outside
        {**events[2], "timestamp": "2011-01-05T08:00:00+00:00"},  # the pre period
    ]


def _by_hand(events: list[dict[str, Any]], clients: list[str]) -> tuple[float, float]:
    """Revenue per client and the buyers' share of ``clients`` in the window: purchase
    events only, each event id once, quantity × price."""
    seen, revenue, buyers = set(), 0.0, set()
    for e in events:
        key = e.get("event_id") or id(e)
        inside = START <= e.get("timestamp", "")[:10] < END
        if e.get("type", "purchase") != "purchase" or key in seen or not inside:
            continue
        seen.add(key)
        if e["client_id"] in clients:
            revenue += e["quantity"] * e["price"]
            buyers.add(e["client_id"])
    return revenue / len(clients), len(buyers) / len(clients)


@contextmanager
def _served(settings: ServingSettings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _ready(base), 60, "the service to be ready")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive(), "the server did not stop"


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _post_events(base: str, events: list[dict[str, Any]]) -> None:
    body = json.dumps({"events": events}).encode()
    sent = urllib.request.Request(
        f"{base}/v1/events", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(sent, timeout=30) as answer:
        assert json.loads(answer.read())["accepted"] == len(events)


def _sign_in_and_open(tab: Page, base: str, path: str, name: str) -> str:
    tab.call("Page.navigate", url=f"{base}{path}")
    tab.wait("location.pathname === '/ui/sign-in' && document.readyState === 'complete'")
    fill = f"username.value = {json.dumps(name)}; password.value = {json.dumps(PASSWORD)}"
    tab.evaluate(f"{fill}; document.getElementById('sign-in').submit(); true")
    tab.wait(f"location.pathname === {json.dumps(path)} && document.readyState === 'complete'")
    return str(tab.evaluate("document.documentElement.outerHTML"))


def test_the_effect_shown_in_chromium_is_the_one_worked_out_here(
    bundles: Path, bundle: Bundle, tmp_path: Path
) -> None:
    settings = _settings(bundles, tmp_path, ana="analyst")
    clients = [str(c) for c in bundle.data.clients.ids[:10]]
    items = [str(i) for i in bundle.data.items.ids[:2]]
    treated, held = clients[:8], clients[8:]
    store = CampaignStore(settings.campaigns_path)
    store.save(_campaign(NAME, items[0]))
    build = {"built_at": "2011-01-09T06:00:00+00:00", "members": 10, "treatment": 8}
    store.record(NAME, _members(clients, items, 2), {**build, "holdout": 2, "over_cap": 4})
    events = _events(treated, held, items[1])
    with _served(settings) as base:
        _post_events(base, events)
        with chromium(tmp_path / "profile") as tab:
            html = _sign_in_and_open(tab, base, f"/ui/campaigns/{NAME}", "ana")
    shown = {attrs["data-metric"]: cells for attrs, cells in rows(html, "metric")}
    assert list(shown) == [
        "revenue_per_client",
        "buyers_share",
        "offered_item_buyers_share",
        "orders_per_client",
        "average_check",
    ]
    assert all(len(cells) == 8 for cells in shown.values())
    revenue_t, buyers_t = _by_hand(events, treated)
    revenue_h, buyers_h = _by_hand(events, held)
    assert revenue_t == pytest.approx((2 * 3.5 + 12.25 + 6 * 1.95 + 40.0) / 8)
    assert shown["revenue_per_client"][1:3] == [f"£{revenue_t:,.2f}", f"£{revenue_h:,.2f}"]
    assert shown["revenue_per_client"][3].startswith(f"+£{revenue_t - revenue_h:,.2f} [")
    assert shown["buyers_share"][1:3] == [f"{buyers_t:.1%}".replace("%", " %"), "50.0 %"]
    assert buyers_h == 0.5
    # The offered items were items[:2]; every purchase here was of items[1].
    assert shown["offered_item_buyers_share"][1] == shown["buyers_share"][1]
    assert shown["orders_per_client"][1] == f"{4 / 8:,.3f}"  # one order per event
    # Difference in differences: the treatment had one pre-period order (£11.70).
    did = (revenue_t - 6 * 1.95 / 8) - revenue_h
    assert shown["revenue_per_client"][6] == f"+£{did:,.2f}"
    assert text_of(html, "members") == "10" and text_of(html, "over-cap") == "4"
    assert (text_of(html, "treatment"), text_of(html, "holdout")) == ("8", "2")
    assert text_of(html, "clients-treatment") == "8" and text_of(html, "clients-holdout") == "2"
    assert text_of(html, "srm").startswith("ok (p = ") and "srm-warning" not in html
    assert text_of(html, "holdout-share") == "20 %" and text_of(html, "cap") == "2"
    assert text_of(html, "dates") == f"{START} to {END} (excluded)"
    by_segment = {attrs["data-value"]: cells for attrs, cells in rows(html, "by")}
    assert set(by_segment) == {"email", "Champions", "At Risk", "(none)"}
    assert by_segment["email"][1:3] == ["8", "2"]  # the one channel: every member
    # Clients 0, 3, 6, 9 are Champions; 9 is held out.
    assert by_segment["Champions"][1:3] == ["3", "1"]


@pytest.fixture
def pages(bundles: Path, bundle: Bundle, tmp_path: Path) -> Iterator[tuple[TestClient, list[str]]]:
    settings = _settings(bundles, tmp_path, ann="manager", ana="analyst")
    clients = [str(c) for c in bundle.data.clients.ids[:5]]
    items = [str(i) for i in bundle.data.items.ids[:2]]
    store = CampaignStore(settings.campaigns_path)
    store.save(_campaign(NAME, items[0]))
    store.record(NAME, _members(clients[:4], items, 1), {"members": 4, "treatment": 3})
    store.save(_campaign("not-yet", items[0]))
    with TestClient(create_app(settings), client=AWAY) as web:
        yield web, clients


def _sign_in(web: TestClient, name: str) -> None:
    web.cookies.clear()
    form = web.get("/ui/sign-in").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    fields = {"username": name, "password": PASSWORD, "csrf": csrf}
    assert web.post("/ui/sign-in", data=fields).status_code == 200


def test_campaign_pages_are_for_analysts(pages: tuple[TestClient, list[str]]) -> None:
    web, _ = pages
    _sign_in(web, "ann")
    assert web.get(f"/ui/campaigns/{NAME}").status_code == 403
    assert web.get("/ui/campaigns").status_code == 403
    assert 'href="/ui/campaigns"' not in web.get("/ui/clients").text
    _sign_in(web, "ana")
    listed = web.get("/ui/campaigns")
    assert listed.status_code == 200 and 'href="/ui/campaigns"' in listed.text
    names = [(attrs["data-name"], cells) for attrs, cells in rows(listed.text, "campaign")]
    assert [name for name, _ in names] == ["not-yet", NAME]
    assert names[1][1][1:6] == ["email", START, END, "—", "4"]  # no built_at in its report
    assert names[0][1][4] == "not built yet"
    assert web.get("/ui/campaigns/no-such-one").status_code == 404


def test_a_campaign_not_built_yet_says_how_to_build_it(pages: tuple[TestClient, list[str]]) -> None:
    web, _ = pages
    _sign_in(web, "ana")
    page = web.get("/ui/campaigns/not-yet")
    assert page.status_code == 200
    assert text_of(page.text, "not-built") == "Not built yet: recsys campaign build not-yet"
    assert rows(page.text, "metric") == []
    built = web.get(f"/ui/campaigns/{NAME}").text  # no events at all: zeros, not a failure
    assert "not-built" not in built and len(rows(built, "metric")) == 5


def test_a_members_crm_screen_shows_the_campaign(pages: tuple[TestClient, list[str]]) -> None:
    web, clients = pages
    _sign_in(web, "ann")
    treated = rows(web.get(f"/ui/clients/{clients[0]}").text, "campaign")
    assert [(attrs["data-name"], cells[:4]) for attrs, cells in treated] == [
        (NAME, [NAME, "email", "contacted", f"{START} to {END} (excluded)"])
    ]
    held = rows(web.get(f"/ui/clients/{clients[3]}").text, "campaign")
    assert held[0][1][2].startswith("held out (control)")
    outside = web.get(f"/ui/clients/{clients[4]}").text
    assert rows(outside, "campaign") == [] and 'id="campaigns"' not in outside


def test_an_srm_mismatch_is_flagged(bundles: Path, bundle: Bundle, tmp_path: Path) -> None:
    settings = _settings(bundles, tmp_path)
    clients = [str(c) for c in bundle.data.clients.ids[:60]]
    store = CampaignStore(settings.campaigns_path)
    store.save(_campaign(NAME, str(bundle.data.items.ids[0])))
    store.record(NAME, _members(clients, [], 0), {"members": 60})  # 20 % promised, none held
    with TestClient(create_app(settings), client=LOOPBACK) as web:
        html = web.get(f"/ui/campaigns/{NAME}").text
    assert text_of(html, "srm").startswith("mismatch (p = ")
    assert "not to be trusted" in text_of(html, "srm-warning")


def test_the_event_log_as_the_canonical_table() -> None:
    raw = pd.DataFrame(
        [
            {
                "type": "purchase",
                "client_id": 7,
                "item_id": "A",
                "order_id": "o1",
                "timestamp": "2011-01-12T10:00:00+01:00",
                "quantity": 2.0,
                "price": 1.5,
                "event_id": "e1",
            },
            {
                "type": "purchase",
                "client_id": "8",
                "item_id": "B",
                "order_id": None,
                "timestamp": "2011-01-12T11:00:00",
                "quantity": None,
                "price": None,
                "event_id": "e2",
            },
            {
                "type": "view",
                "client_id": "8",
                "item_id": "C",
                "order_id": None,
                "timestamp": "2011-01-12T12:00:00+00:00",
                "quantity": 1.0,
                "price": 9.0,
                "event_id": "e3",
            },
            {
                "type": "purchase",
                "client_id": 7,
                "item_id": "A",
                "order_id": "o1",
                "timestamp": "2011-01-12T10:00:00+01:00",
                "quantity": 2.0,
                "price": 1.5,
                "event_id": "e1",
            },  # retried
            {
                "type": "purchase",
                "client_id": "9",
                "item_id": "D",
                "order_id": None,
                "timestamp": "not a time",
                "quantity": 1.0,
                "price": 1.0,
                "event_id": "e4",
            },
        ]
    )
    found = canonical_events(raw)
    assert list(found.columns) == [
        "client_id",
        "item_id",
        "order_id",
        "timestamp",
        "quantity",
        "price",
    ]
    assert found["client_id"].tolist() == ["7", "8"] and found["order_id"].tolist() == ["o1", "e2"]
    assert found["timestamp"].tolist() == [
        pd.Timestamp("2011-01-12T09:00:00", tz="UTC"),
        pd.Timestamp("2011-01-12T11:00:00", tz="UTC"),  # naive: UTC
    ]
    assert found["quantity"].tolist() == [2.0, 1.0] and found["price"].isna().tolist() == [
        False,
        True,
    ]
    # Without order ids, event ids or types (an older log): every row a purchase, the
    # order its client and time.
    bare = canonical_events(raw.drop(columns=["order_id", "event_id", "type", "price"]).head(2))
    assert bare["order_id"].tolist() == ["7@2011-01-12T10:00:00+01:00", "8@2011-01-12T11:00:00"]
    assert bare["price"].isna().all()
    empty = canonical_events(pd.DataFrame())
    assert empty.empty and str(empty["timestamp"].dtype) == "datetime64[ns, UTC]"
