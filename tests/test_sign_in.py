"""Signing in to the CRM pages: roles, CSRF, throttles, busy checks and the headers
of every page (sessions themselves: test_sessions.py; a real browser:
test_sign_in_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.attempts import CHECKS, Attempts, Throttle
from serving.auth.records import FileAccess, key_digest
from serving.auth.sessions import Sessions
from serving.routers.sign_in import safe_next
from serving.schemas import MAX_ID
from serving.settings import ServingSettings
from tests.browser import rows, text_of
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK

PASSWORD = "correct horse battery staple"
ELSEWHERE = ("203.0.113.7", 4000)  # a documentation address: not loopback
People = tuple[ServingSettings, FileAccess]


def settings_with_access(bundles: Path, tmp: Path, **extra: Any) -> ServingSettings:
    """The service's settings with an access file and session secret in ``tmp``."""
    paths = {"access_path": tmp / "access.json", "session_secret_path": tmp / "session.key"}
    return settings_for(bundles, tmp, **paths, **extra)


def add_people(settings: ServingSettings, **roles: str) -> FileAccess:
    """Users of these roles, all with :data:`PASSWORD` (real argon2id hashes)."""
    access = FileAccess(settings.access_path)
    for name, role in roles.items():
        access.add_user(name, role, PASSWORD)
    return access


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def sign_in(
    client: TestClient, name: str, password: str = PASSWORD, to: str = ""
) -> httpx.Response:
    """Open the sign-in form and send it."""
    form = client.get("/ui/sign-in")
    fields = {"username": name, "password": password, "csrf": csrf_of(form.text), "next": to}
    return client.post("/ui/sign-in", data=fields, follow_redirects=False)


def outcomes_of(settings: ServingSettings) -> list[tuple[str, ...]]:
    """(client, item, outcome, reason) of each outcome stored."""
    path = settings.outcomes_path
    lines = path.read_text().splitlines() if path.exists() else []
    stored = [json.loads(line)["outcome"] for line in lines]
    return [(o["client_id"], o["item_id"], o["outcome"], o["reason"]) for o in stored]


def unframed(response: httpx.Response) -> bool:
    """Whether ``response`` forbids other sites to frame it (old browsers and new)."""
    policy = response.headers.get("content-security-policy")
    return policy == "frame-ancestors 'none'" and response.headers.get("x-frame-options") == "DENY"


@pytest.fixture
def people(bundles: Path, tmp_path: Path) -> People:
    settings = settings_with_access(bundles, tmp_path)
    return settings, add_people(settings, ann="manager", ana="analyst", ada="admin")


def test_each_role_opens_its_pages(bundles: Path, people: People) -> None:
    settings, access = people
    raw_key = access.add_key("crm", ["read", "events"])
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        first = client.get(f"/ui/clients/{who}", follow_redirects=False)
        assert first.status_code == 303 and unframed(first)
        assert first.headers["location"] == f"/ui/sign-in?next=%2Fui%2Fclients%2F{who}"
        signed = sign_in(client, "ann", to=f"/ui/clients/{who}")
        assert signed.status_code == 303 and signed.headers["location"] == f"/ui/clients/{who}"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/ui" in cookie
        assert "secure" not in cookie  # plain HTTP, cookie_secure unset
        page = client.get(f"/ui/clients/{who}")
        assert page.status_code == 200 and text_of(page.text, "person") == "ann"
        assert unframed(page) and unframed(signed) and unframed(client.get("/ui/sign-in"))
        assert client.get("/ui/at-risk").status_code == 200
        for above in ("/ui/experiments", "/ui/admin"):
            refused = client.get(above)
            assert refused.status_code == 403 and "role and above" in refused.text
            assert unframed(refused)
        client.cookies.clear()
        sign_in(client, "ana")
        assert client.get("/ui/experiments").status_code == 200
        assert client.get("/ui/admin").status_code == 403
        client.cookies.clear()
        sign_in(client, "ada")
        admin = client.get("/ui/admin")
    assert admin.status_code == 200
    shown = {cells[0]: cells[1] for _, cells in rows(admin.text, "user") + rows(admin.text, "key")}
    assert shown == {"ada": "admin", "ana": "analyst", "ann": "manager", "crm": "events, read"}
    assert key_digest(raw_key) not in admin.text and raw_key not in admin.text


def test_wrong_password_and_unknown_user_answer_alike_then_the_name_waits(people: People) -> None:
    settings, _ = people
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        wrong = sign_in(client, "ann", "not the password at all")
        unknown = sign_in(client, "nobody", PASSWORD)
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.text.replace('value="ann"', "") == unknown.text.replace('value="nobody"', "")
        for _ in range(4):  # five failures for ann in all
            sign_in(client, "ann", "not the password at all")
        assert sign_in(client, "ann").status_code == 429  # even the right one, for now
        assert sign_in(client, "ada").status_code == 303  # other names are not held


def test_throttle_forgets_failures_older_than_its_window() -> None:
    now = [0.0]
    throttle = Throttle(limit=5, window=900, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("ann")
    assert throttle.refused("ann") and not throttle.refused("ada")
    now[0] = 901
    assert not throttle.refused("ann")


def test_failures_are_held_per_address_too() -> None:
    """Unit: 20 failures from one address within the window hold it, whatever the names;
    a success there forgets the name's failures only; other addresses go on."""
    attempts = Attempts()
    for n in range(20):
        assert attempts.held(f"name{n}", "198.51.100.1") is None
        attempts.count(f"name{n}", "198.51.100.1", ok=False)
    held = attempts.held("someone-else", "198.51.100.1")
    assert held is not None and "this address" in held
    assert attempts.held("name0", "198.51.100.2") is None  # each name failed once only
    attempts.count("name0", "198.51.100.1", ok=True)
    assert attempts.held("anyone", "198.51.100.1") is not None


def test_sign_ins_from_a_failing_address_are_held(people: People) -> None:
    settings, _ = people
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        attempts: Attempts = client.app.state.sessions.attempts  # type: ignore[attr-defined]
        for n in range(2):  # real failures, each counted for the caller's address:
            assert sign_in(client, f"guess{n}", "not the password at all").status_code == 401
        for _ in range(18):  # and the rest of the 20, without 18 more argon2 checks
            attempts.addresses.failed(ELSEWHERE[0])
        held = sign_in(client, "ada")  # a name that never failed, the right password
    assert held.status_code == 429 and "from this address" in text_of(held.text, "refused")
    assert unframed(held)


def test_password_checks_past_the_limit_answer_busy(people: People) -> None:
    """With every check slot taken, a sign-in is told to come back (503), not queued;
    it counts as no failure, and succeeds once a slot is free."""
    settings, _ = people
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        sessions: Sessions = client.app.state.sessions  # type: ignore[attr-defined]
        for _ in range(CHECKS):  # as if CHECKS sign-ins were being checked now
            client.portal.call(sessions.attempts.checks.acquire)  # type: ignore[union-attr]
        busy = sign_in(client, "ann")
        for _ in range(CHECKS):
            client.portal.call(sessions.attempts.checks.release)  # type: ignore[union-attr]
        after = sign_in(client, "ann")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert "busy" in text_of(busy.text, "refused") and unframed(busy)
    assert after.status_code == 303


def test_over_long_ids_are_refused_not_cut(bundles: Path, people: People) -> None:
    settings, _ = people
    who, bought = a_client(bundles)
    long = "9" * (MAX_ID + 1)
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        sign_in(client, "ann")
        token = {"csrf": csrf_of(client.get(f"/ui/clients/{who}").text)}
        fields = {**token, "outcome": "declined", "channel": "call"}
        item = sorted(bought)[0]
        sent = {
            "client_id": client.post(f"/ui/clients/{long}/offers/{item}/outcome", data=fields),
            "item_id": client.post(f"/ui/clients/{who}/offers/{long}/outcome", data=fields),
            "manager": client.post(f"/ui/clients/{who}/manager", data={**token, "manager": long}),
        }
        also = client.post(f"/ui/clients/{long}/manager", data={**token, "manager": "ann"})
        screen = client.get(f"/ui/clients/{long}")
    for field, answer in [*sent.items(), ("client_id", also), ("client_id", screen)]:
        assert answer.status_code == 422 and unframed(answer), field
        assert [e["loc"][-1] for e in answer.json()["detail"]] == [field]
    assert not outcomes_of(settings)


def test_forms_need_their_csrf_token(bundles: Path, people: People) -> None:
    settings, _ = people
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        sign_in(client, "ann")
        page = client.get(f"/ui/clients/{who}").text
        found = re.search(r'action="(/ui/clients/[^"/]+/offers/([^"/]+)/outcome)"', page)
        assert found is not None
        action, item = found.group(1), unquote(found.group(2))
        fields = {"outcome": "declined", "channel": "call"}
        forged = client.post(action, data=fields, follow_redirects=False)
        also = client.post(action, data={**fields, "csrf": "0" * 64}, follow_redirects=False)
        assert forged.status_code == also.status_code == 403 and not outcomes_of(settings)
        done = client.post(action, data={**fields, "csrf": csrf_of(page)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/ui/clients/{who}"
    assert outcomes_of(settings) == [(who, item, "declined", None)]


def test_pages_without_users_answer_loopback_only(bundles: Path, tmp_path: Path) -> None:
    settings = settings_with_access(bundles, tmp_path)
    app = create_app(settings)
    with TestClient(app, client=ELSEWHERE) as elsewhere:
        refused = elsewhere.get("/ui/clients")
    assert refused.status_code == 403 and "recsys users add" in refused.text
    with TestClient(app, client=LOOPBACK) as local:
        page = local.get("/ui/clients")
        assert page.status_code == 200 and text_of(page.text, "person") == "local"
        assert local.post("/ui/sign-out", data={}, follow_redirects=False).status_code == 403
    with TestClient(app, client=LOOPBACK, base_url="https://testserver") as tls:
        assert "secure" in tls.get("/ui/clients").headers["set-cookie"].lower()
    opened = create_app(settings_with_access(bundles, tmp_path, open_access=True))
    with TestClient(opened, client=ELSEWHERE) as c:
        assert text_of(c.get("/ui/clients").text, "person") == "anonymous"


def test_only_pages_of_this_service_are_next() -> None:
    assert safe_next("/ui/clients/12345?x=1") == "/ui/clients/12345?x=1"
    away = ["//evil.example/ui/", "https://evil.example/ui/x", "/\\evil.example", "/ui/\\evil"]
    for target in [*away, "/v1/model", "/ui/sign-out", ""]:
        assert safe_next(target) == "/ui/clients", target
