"""Signed session cookies for the CRM pages, their CSRF tokens, and sign-in throttling.

A session is a cookie signed with itsdangerous (HMAC-SHA256) holding the person's
name, role and kind, a random nonce and the time it was issued. Checking one is all
in process — a signature, an expiry, a dict lookup of the user and of the signed-out
nonces — so it costs tens of microseconds, never a Redis round trip.

Signing out does two things: the browser's cookie is cleared, and the nonce is
remembered as signed out in *this process* until the session would have expired
anyway. With several replicas, another replica would still accept a copy of the
cookie taken before sign-out until it expires; the cleared cookie is what ends the
session in the browser.

CSRF: every form carries ``csrf`` = HMAC-SHA256(secret, nonce) of its session, which
a page on another site cannot compute; the sign-in form uses the nonce of a
pre-sign-in cookie (a signed double submit).

The secret: ``session_secret`` when set; else with Redis one random secret that the
first replica stores (``SET … NX``) and every replica reads; else a file made once
with mode 0600 at ``session_secret_path``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from recsys.errors import ConfigError
from serving.auth.principal import Principal, role_scopes
from serving.auth.records import UserRecord, hash_password
from serving.settings import ServingSettings

__all__ = ["PATH", "PRE_SIGN_IN", "SESSION", "Session", "Sessions", "Throttle"]

SESSION = "recsys_session"
"""The session cookie's name."""
PRE_SIGN_IN = "recsys_sign_in"
"""The cookie whose nonce the sign-in form's CSRF token is made from."""
PATH = "/ui"
"""Both cookies are sent to the pages only, never to the API."""
_SALT = "recsys.session"
_SECRET_FIELD = "session-secret"  # under the access prefix: recsys:access:session-secret


@dataclass(frozen=True)
class Session:
    """One signed-in visit: who, and the nonce its CSRF tokens are made from."""

    principal: Principal
    nonce: str
    issued: float


class Throttle:
    """Failed sign-ins per user name: after ``limit`` of them within ``window``
    seconds the name is refused until the oldest is older than the window."""

    def __init__(
        self, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}

    def refused(self, name: str) -> bool:
        """Whether ``name`` may not try now."""
        return len(self._recent(name)) >= self.limit

    def failed(self, name: str) -> None:
        """Count one failure of ``name``."""
        if len(self._failures) > 10_000:  # names are the caller's: keep the dict bounded
            for stale in [n for n in self._failures if not self._recent(n)]:
                del self._failures[stale]
        self._failures.setdefault(name, deque()).append(self.clock())

    def succeeded(self, name: str) -> None:
        """Forget ``name``'s failures."""
        self._failures.pop(name, None)

    def _recent(self, name: str) -> deque[float]:
        found = self._failures.get(name, deque())
        while found and self.clock() - found[0] > self.window:
            found.popleft()
        return found


class Sessions:
    """Issues and checks session cookies and CSRF tokens; :meth:`open` loads the secret."""

    def __init__(
        self, settings: ServingSettings, redis: Any = None, prefix: str = "recsys:access"
    ) -> None:
        self.settings, self.redis = settings, redis
        self.secret_key = f"{prefix}:{_SECRET_FIELD}"
        self.lifetime = settings.session_minutes * 60
        self.throttle = Throttle()
        self.decoy = ""
        """A hash checked for unknown names, so they take as long as a wrong password."""
        self._signed_out: dict[str, float] = {}  # nonce → when its session expires anyway
        self._secret = b""
        self._signer: URLSafeTimedSerializer | None = None

    async def open(self) -> Sessions:
        """Load (or make) the secret; ``self``, for one-line use in the lifespan."""
        self._secret = await self._load_secret()
        self._signer = URLSafeTimedSerializer(
            self._secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.decoy = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        return self

    def issue(self, principal: Principal, record: UserRecord | None = None) -> tuple[str, Session]:
        """A new session for ``principal`` (a person: with their ``record``): the
        cookie's value, and the session."""
        session = Session(principal, secrets.token_urlsafe(16), time.time())
        who = {"name": principal.name, "role": principal.role, "kind": principal.kind}
        payload = {**who, "nonce": session.nonce, "issued": session.issued}
        if record is not None:
            payload["stamp"] = user_stamp(record)
        return str(self._serializer().dumps(payload)), session

    def read(
        self, cookie: str | None, users: Mapping[str, UserRecord], auto: Principal | None
    ) -> Session | None:
        """The session of a cookie, or None when it is missing, forged, expired, signed
        out, or no longer fits: a person must still exist with the same role; a
        ``local``/``open`` one holds only while ``auto`` (no users known) is its kind."""
        payload = self._payload(cookie)
        if payload is None or payload.get("nonce") in self._signed_out:
            return None
        if time.time() - float(payload.get("issued", 0)) > self.lifetime:
            return None  # the signer's own check counts whole seconds
        principal = _principal(payload, users, auto)
        return (
            None if principal is None else Session(principal, payload["nonce"], payload["issued"])
        )

    def csrf(self, nonce: str) -> str:
        """The CSRF token of the forms of the session (or pre-sign-in) ``nonce``."""
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str, token: str) -> bool:
        """Whether ``token`` is ``nonce``'s (in constant time)."""
        return bool(nonce) and hmac.compare_digest(self.csrf(nonce), token)

    def sign_out(self, session: Session) -> None:
        """Refuse ``session`` from now on in this process (the caller clears the cookie)."""
        now = time.time()
        for nonce in [n for n, until in self._signed_out.items() if until < now]:
            del self._signed_out[nonce]  # expired anyway: keep the set small
        self._signed_out[session.nonce] = session.issued + self.lifetime

    def set_cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        """Set cookie ``name``: HttpOnly, SameSite=Lax, path ``/ui``, Secure as configured."""
        response.set_cookie(
            name, value, path=PATH, httponly=True, samesite="lax", secure=self._secure(request)
        )

    def clear_cookie(self, response: Response, request: Request, name: str) -> None:
        """Tell the browser to forget cookie ``name``."""
        response.delete_cookie(
            name, path=PATH, httponly=True, samesite="lax", secure=self._secure(request)
        )

    def _secure(self, request: Request) -> bool:
        if self.settings.cookie_secure is not None:
            return self.settings.cookie_secure
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        return request.url.scheme == "https" or forwarded == "https"

    def _serializer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            raise RuntimeError("Sessions.open() was not awaited (the app's lifespan does it)")
        return self._signer

    def _payload(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            found = self._serializer().loads(cookie, max_age=max(1, round(self.lifetime) + 1))
        except BadSignature:  # forged, tampered, expired (SignatureExpired is one) or garbled
            return None
        return found if isinstance(found, dict) and isinstance(found.get("nonce"), str) else None

    async def _load_secret(self) -> bytes:
        given = self.settings.session_secret
        if given is not None:
            return given.get_secret_value().encode()
        if self.redis is not None:  # the first replica's secret wins; all read the same
            await self.redis.set(self.secret_key, secrets.token_urlsafe(32), nx=True)
            found = await self.redis.get(self.secret_key)
            if found is None:  # deleted between the two calls: never sign with "None"
                raise ConfigError(f"{self.secret_key} vanished from Redis; start again")
            return found if isinstance(found, bytes) else str(found).encode()
        return await asyncio.to_thread(_secret_file, self.settings.session_secret_path)


def user_stamp(record: UserRecord) -> str:
    """What a person's sessions hold of their record: a new password (or the user
    removed and made again) ends every session signed in before."""
    return hashlib.sha256(f"{record.password_hash}|{record.created}".encode()).hexdigest()[:16]


def _principal(
    payload: Mapping[str, Any], users: Mapping[str, UserRecord], auto: Principal | None
) -> Principal | None:
    """Who a verified payload names, if they may still use the pages."""
    kind, name, role = payload.get("kind"), payload.get("name"), payload.get("role")
    if kind == "user":
        record = users.get(str(name))
        if record is None or record.role != role or payload.get("stamp") != user_stamp(record):
            return None  # removed, another role or password, or made anew: sign in again
        return Principal(record.name, "user", role_scopes(record.role), record.role)
    return auto if auto is not None and auto.kind == kind else None


def _secret_file(path: Path) -> bytes:
    """The secret kept at ``path``, made once (mode 0600) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)  # atomic, and never over a secret another process made
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise ConfigError(f"session secret {path}: at least 32 characters expected")
    return secret
