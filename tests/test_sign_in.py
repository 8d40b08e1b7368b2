"""Signing in to the CRM pages: sessions, roles, CSRF, up to headless Chromium."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from serving.app import create_app
from serving.auth.records import FileAccess, key_digest
from serving.auth.sessions import SESSION, Sessions, Throttle
from serving.deps import Context
from serving.routers.sign_in import safe_next
from serving.settings import ServingSettings
from tests.browser import Page, chromium, rows, text_of
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK, free_port, serve

PASSWORD = "correct horse battery staple"
ELSEWHERE = ("203.0.113.7", 4000)  # a documentation address: not loopback
People = tuple[ServingSettings, FileAccess]


def _settings(bundles: Path, tmp: Path, **extra: Any) -> ServingSettings:
    paths = {"access_path": tmp / "access.json", "session_secret_path": tmp / "session.key"}
    return settings_for(bundles, tmp, **paths, **extra)


def _people(settings: ServingSettings, **roles: str) -> FileAccess:
    access = FileAccess(settings.access_path)
    for name, role in roles.items():
        access.add_user(name, role, PASSWORD)  # real argon2id hashes
    return access


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def _sign_in(
    client: TestClient, name: str, password: str = PASSWORD, to: str = ""
) -> httpx.Response:
    form = client.get("/ui/sign-in")
    fields = {"username": name, "password": password, "csrf": _csrf(form.text), "next": to}
    return client.post("/ui/sign-in", data=fields, follow_redirects=False)


def _outcomes(settings: ServingSettings) -> list[tuple[str, ...]]:
    path = settings.outcomes_path  # (client, item, outcome, reason) of each one stored:
    lines = path.read_text().splitlines() if path.exists() else []
    stored = [json.loads(line)["outcome"] for line in lines]
    return [(o["client_id"], o["item_id"], o["outcome"], o["reason"]) for o in stored]


@pytest.fixture
def people(bundles: Path, tmp_path: Path) -> People:
    settings = _settings(bundles, tmp_path)
    return settings, _people(settings, ann="manager", ana="analyst", ada="admin")


def test_each_role_opens_its_pages(bundles: Path, people: People) -> None:
    settings, access = people
    raw_key = access.add_key("crm", ["read", "events"])
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        first = client.get(f"/ui/clients/{who}", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == f"/ui/sign-in?next=%2Fui%2Fclients%2F{who}"
        signed = _sign_in(client, "ann", to=f"/ui/clients/{who}")
        assert signed.status_code == 303 and signed.headers["location"] == f"/ui/clients/{who}"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/ui" in cookie
        assert "secure" not in cookie  # plain HTTP, cookie_secure unset
        page = client.get(f"/ui/clients/{who}")
        assert page.status_code == 200 and text_of(page.text, "person") == "ann"
        assert client.get("/ui/at-risk").status_code == 200
        for above in ("/ui/experiments", "/ui/admin"):
            refused = client.get(above)
            assert refused.status_code == 403 and "role and above" in refused.text
        client.cookies.clear()
        _sign_in(client, "ana")
        assert client.get("/ui/experiments").status_code == 200
        assert client.get("/ui/admin").status_code == 403
        client.cookies.clear()
        _sign_in(client, "ada")
        admin = client.get("/ui/admin")
    assert admin.status_code == 200
    shown = {cells[0]: cells[1] for _, cells in rows(admin.text, "user") + rows(admin.text, "key")}
    assert shown == {"ada": "admin", "ana": "analyst", "ann": "manager", "crm": "events, read"}
    assert key_digest(raw_key) not in admin.text and raw_key not in admin.text


def test_wrong_password_and_unknown_user_answer_alike_then_the_name_waits(people: People) -> None:
    settings, _ = people
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        wrong = _sign_in(client, "ann", "not the password at all")
        unknown = _sign_in(client, "nobody", PASSWORD)
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.text.replace('value="ann"', "") == unknown.text.replace('value="nobody"', "")
        for _ in range(4):  # five failures for ann in all
            _sign_in(client, "ann", "not the password at all")
        assert _sign_in(client, "ann").status_code == 429  # even the right one, for now
        assert _sign_in(client, "ada").status_code == 303  # other names are not held


def test_throttle_forgets_failures_older_than_its_window() -> None:
    now = [0.0]
    throttle = Throttle(limit=5, window=900, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("ann")
    assert throttle.refused("ann") and not throttle.refused("ada")
    now[0] = 901
    assert not throttle.refused("ann")


def test_forms_need_their_csrf_token(bundles: Path, people: People) -> None:
    settings, _ = people
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        _sign_in(client, "ann")
        page = client.get(f"/ui/clients/{who}").text
        found = re.search(r'action="(/ui/clients/[^"/]+/offers/([^"/]+)/outcome)"', page)
        assert found is not None
        action, item = found.group(1), unquote(found.group(2))
        fields = {"outcome": "declined", "channel": "call"}
        forged = client.post(action, data=fields, follow_redirects=False)
        also = client.post(action, data={**fields, "csrf": "0" * 64}, follow_redirects=False)
        assert forged.status_code == also.status_code == 403 and not _outcomes(settings)
        done = client.post(action, data={**fields, "csrf": _csrf(page)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/ui/clients/{who}"
    assert _outcomes(settings) == [(who, item, "declined", None)]


def test_expired_session_goes_back_to_sign_in(bundles: Path, tmp_path: Path) -> None:
    settings = _settings(bundles, tmp_path, session_minutes=0.02)  # 1.2 s
    _people(settings, ann="manager")
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        _sign_in(client, "ann")
        assert client.get("/ui/clients", follow_redirects=False).status_code == 200
        time.sleep(1.5)
        late = client.get("/ui/clients", follow_redirects=False)
    assert late.status_code == 303 and late.headers["location"].startswith("/ui/sign-in?next=")


def _only(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set(SESSION, cookie, path="/ui")
    return client.get("/ui/clients", follow_redirects=False).status_code


def test_sessions_are_refused_if_tampered_forged_signed_out_removed(
    people: People,
) -> None:
    settings, access = people
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        _sign_in(client, "ann")
        cookie = client.cookies[SESSION]
        assert _only(client, cookie) == 200
        sessions: Sessions = client.app.state.sessions  # type: ignore[attr-defined]
        context: Context = client.app.state.context  # type: ignore[attr-defined]
        users = context.keys.known.users
        check = sessions.read(cookie, users, None)  # what every page visit runs
        assert check is not None and check.principal.name == "ann"
        body, stamp, signature = cookie.rsplit(".", 2)
        tampered = f"{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}.{stamp}.{signature}"
        assert _only(client, tampered) == 303
        payload = dict(name="ann", role="admin", kind="user", nonce="x", issued=time.time())
        other = URLSafeTimedSerializer("another secret", salt="recsys.session").dumps(payload)
        assert _only(client, str(other)) == 303
        _only(client, cookie)
        page = client.get("/ui/clients").text
        out = client.post("/ui/sign-out", data={"csrf": _csrf(page)}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
        cleared = out.headers["set-cookie"].lower()  # the browser forgets it
        assert cleared.startswith(f'{SESSION}=""') and "max-age=0; path=/ui" in cleared
        assert _only(client, cookie) == 303  # and a copy kept is refused
        _sign_in(client, "ann")
        access.set_password("ann", "a new and long passphrase")  # ends her sessions
        client.portal.call(context.keys.refresh)  # type: ignore[union-attr]
        assert client.get("/ui/clients", follow_redirects=False).status_code == 303
        _sign_in(client, "ann", "a new and long passphrase")
        assert client.get("/ui/clients", follow_redirects=False).status_code == 200
        access.remove_user("ann")
        client.portal.call(context.keys.refresh)  # type: ignore[union-attr]
        assert client.get("/ui/clients", follow_redirects=False).status_code == 303


def test_pages_without_users_answer_loopback_only(bundles: Path, tmp_path: Path) -> None:
    settings = _settings(bundles, tmp_path)
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
    opened = create_app(_settings(bundles, tmp_path, open_access=True))
    with TestClient(opened, client=ELSEWHERE) as c:
        assert text_of(c.get("/ui/clients").text, "person") == "anonymous"


def test_only_pages_of_this_service_are_next() -> None:
    assert safe_next("/ui/clients/12345?x=1") == "/ui/clients/12345?x=1"
    away = ["//evil.example/ui/", "https://evil.example/ui/x", "/\\evil.example", "/ui/\\evil"]
    for target in [*away, "/v1/model", "/ui/sign-out", ""]:
        assert safe_next(target) == "/ui/clients", target


def test_the_secret_is_made_once_and_shared(tmp_path: Path, bundles: Path, redis_url: str) -> None:
    settings = _settings(bundles, tmp_path)
    first, second = (asyncio.run(Sessions(settings).open()) for _ in range(2))
    assert stat.S_IMODE(settings.session_secret_path.stat().st_mode) == 0o600
    assert first.csrf("nonce") == second.csrf("nonce")

    async def replica() -> str:
        client = aioredis.from_url(redis_url)
        opened = await Sessions(settings, client, prefix="test:sign-in").open()
        await client.aclose()
        return opened.csrf("nonce")

    shared = [asyncio.run(replica()) for _ in range(2)]
    assert shared[0] == shared[1] != first.csrf("nonce")
    redis.Redis.from_url(redis_url).delete("test:sign-in:session-secret")


@contextmanager
def _attacker(site: Path) -> Iterator[str]:
    """Another site (another port) serving the files of ``site``."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()


def _go(tab: Page, url: str, ready: str) -> None:
    tab.call("Page.navigate", url=url)
    tab.wait(f"({ready}) && document.readyState === 'complete'")


def test_sign_in_record_and_sign_out_in_headless_chromium(
    bundles: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = _settings(bundles, tmp_path)
    _people(settings, ann="manager")
    who, _ = a_client(bundles)
    port, key = free_port(), str(tmp_path / "session.key")  # files of this test only
    access = {"access_path": str(settings.access_path), "session_secret_path": key}
    service = serve(bundles, settings.events_path, port, None, **access)
    request.addfinalizer(service.kill)
    base = f"http://127.0.0.1:{port}"
    with chromium(tmp_path / "profile") as tab:
        _go(tab, f"{base}/ui/clients/{who}", "location.pathname === '/ui/sign-in'")
        fill = f"username.value = 'ann'; password.value = {json.dumps(PASSWORD)}"
        tab.evaluate(f"{fill}; document.getElementById('sign-in').submit(); true")
        tab.wait(f"location.pathname === '/ui/clients/{who}' && !!window.person")
        assert tab.evaluate("person.textContent") == "ann"
        item = tab.evaluate("document.querySelector('tr.offer').dataset.item")
        form = "document.querySelector('tr.offer form.declined')"
        tab.evaluate(f"{form}.reason.value = 'has one'; {form}.submit(); true")
        tab.wait("document.querySelectorAll('tr.past-offer').length === 1")
        assert _outcomes(settings) == [(who, item, "declined", "has one")]
        target = f"{base}/ui/clients/{who}/offers/{item}/outcome"
        fields = '<input name="outcome" value="accepted"><input name="channel" value="call">'
        (site := tmp_path / "site").mkdir()
        forged = f'<form method="post" action="{target}">{fields}</form>'
        (site / "index.html").write_text(f"{forged}<script>document.forms[0].submit()</script>")
        with _attacker(site) as elsewhere:
            _go(tab, elsewhere, f"location.href === {json.dumps(target)}")
        shown = tab.evaluate("document.body.innerText")
        assert "came from another site" in shown and len(_outcomes(settings)) == 1
        _go(tab, f"{base}/ui/clients/{who}", "!!document.getElementById('sign-out')")
        tab.evaluate("document.getElementById('sign-out').submit(); true")
        tab.wait("location.pathname === '/ui/sign-in' && !document.getElementById('person')")
        _go(tab, f"{base}/ui/clients/{who}", "location.search.startsWith('?next=')")
        assert tab.evaluate("location.pathname") == "/ui/sign-in"
