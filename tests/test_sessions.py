"""The CRM pages' sessions: expiry, forged or tampered cookies, sign-out, and the
secret that signs them (made once, shared through Redis, long enough)."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr

from recsys.errors import ConfigError
from serving.app import create_app
from serving.auth.sessions import SESSION, Sessions
from serving.deps import Context
from tests.test_sign_in import ELSEWHERE, People, add_people, csrf_of, settings_with_access
from tests.test_sign_in import sign_in as sign_in_as


@pytest.fixture
def people(bundles: Path, tmp_path: Path) -> People:
    settings = settings_with_access(bundles, tmp_path)
    return settings, add_people(settings, ann="manager", ada="admin")  # ada: users remain


def test_expired_session_goes_back_tosign_in_as(bundles: Path, tmp_path: Path) -> None:
    settings = settings_with_access(bundles, tmp_path, session_minutes=0.02)  # 1.2 s
    add_people(settings, ann="manager")
    with TestClient(create_app(settings), client=ELSEWHERE) as client:
        sign_in_as(client, "ann")
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
        sign_in_as(client, "ann")
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
        out = client.post("/ui/sign-out", data={"csrf": csrf_of(page)}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
        cleared = out.headers["set-cookie"].lower()  # the browser forgets it
        assert cleared.startswith(f'{SESSION}=""') and "max-age=0; path=/ui" in cleared
        assert _only(client, cookie) == 303  # and a copy kept is refused
        sign_in_as(client, "ann")
        access.set_password("ann", "a new and long passphrase")  # ends her sessions
        client.portal.call(context.keys.refresh)  # type: ignore[union-attr]
        assert client.get("/ui/clients", follow_redirects=False).status_code == 303
        sign_in_as(client, "ann", "a new and long passphrase")
        assert client.get("/ui/clients", follow_redirects=False).status_code == 200
        access.remove_user("ann")
        client.portal.call(context.keys.refresh)  # type: ignore[union-attr]
        assert client.get("/ui/clients", follow_redirects=False).status_code == 303


def test_the_secret_is_made_once_and_shared(tmp_path: Path, bundles: Path, redis_url: str) -> None:
    settings = settings_with_access(bundles, tmp_path)
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


@pytest.mark.parametrize("secret", ["", "x" * 31])
def test_a_short_secret_is_refused_naming_the_setting(
    bundles: Path, tmp_path: Path, secret: str
) -> None:
    settings = settings_with_access(bundles, tmp_path, session_secret=SecretStr(secret))
    with pytest.raises(ConfigError, match="RECSYS_SESSION_SECRET: at least 32 characters"):
        asyncio.run(Sessions(settings).open())
    made = settings_with_access(bundles, tmp_path, session_secret=SecretStr("x" * 32))
    assert asyncio.run(Sessions(made).open()).csrf("nonce")  # 32 will do
    assert not made.session_secret_path.exists()  # the setting, never a file, signs


def test_a_short_secret_file_is_refused(bundles: Path, tmp_path: Path) -> None:
    settings = settings_with_access(bundles, tmp_path)
    settings.session_secret_path.write_text("too short\n")
    with pytest.raises(ConfigError, match=r"session\.key: at least 32 characters"):
        asyncio.run(Sessions(settings).open())
