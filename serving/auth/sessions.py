"""Signed session cookies for the CRM pages, their CSRF tokens, and sign-in attempts.

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
with mode 0600 at ``session_secret_path``. Each must be 32 characters or more.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from recsys.errors import ConfigError
from serving.auth.attempts import Attempts
from serving.auth.principal import Principal, role_scopes
from serving.auth.records import UserRecord, hash_password
from serving.settings import ServingSettings

__all__ = ["PATH", "PRE_SIGN_IN", "SESSION", "Session", "Sessions"]

SESSION = "recsys_session"
"""The session cookie's name."""
PRE_SIGN_IN = "recsys_sign_in"
"""The cookie whose nonce the sign-in form's CSRF token is made from."""
PATH = "/ui"
"""Both cookies are sent to the pages only, never to the API."""
_SALT = "recsys.session"
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_LOCALLY = "session_secret_path (set RECSYS_SESSION_SECRET to share one without Redis)"
log = logging.getLogger("recsys.serving")
_SECRET_MIN = 32  # characters: 192 bits or more of an urlsafe token
_SECRET_FIELD = "session-secret"  # under the access prefix: recsys:access:session-secret


@dataclass(frozen=True)
class Session:
    """One signed-in visit: who, and the nonce its CSRF tokens are made from."""

    principal: Principal
    nonce: str
    issued: float


class Sessions:
    """Issues and checks session cookies and CSRF tokens; :meth:`open` loads the secret."""

    def __init__(
        self, settings: ServingSettings, redis: Any = None, prefix: str = "recsys:access"
    ) -> None:
        self.settings, self.redis = settings, redis
        self.secret_key = f"{prefix}:{_SECRET_FIELD}"
        self.lifetime = settings.session_minutes * 60
        self.attempts = Attempts()  # sign-ins: throttles, argon2 checks at once
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

    def pre_sign_in_nonce(self, request: Request) -> str:
        """The pre-sign-in cookie's nonce, or a new one when it is missing or malformed."""
        nonce = request.cookies.get(PRE_SIGN_IN, "")
        return nonce if _NONCE.fullmatch(nonce) else secrets.token_urlsafe(16)

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
            return _long_enough(given.get_secret_value().encode(), "RECSYS_SESSION_SECRET")
        if self.redis is not None:
            try:
                return _long_enough(await self._shared_secret(), f"{self.secret_key} in Redis")
            except (RedisError, OSError) as error:  # start anyway; sign-ins stay per replica
                log.warning("session secret not read from Redis (%s): using %s", error, _LOCALLY)
        return await asyncio.to_thread(_secret_file, self.settings.session_secret_path)

    async def _shared_secret(self) -> bytes:
        """The first replica's secret wins; every replica reads the same one."""
        await self.redis.set(self.secret_key, secrets.token_urlsafe(32), nx=True)
        found = await self.redis.get(self.secret_key)
        if found is None:  # deleted between the two calls: never sign with "None"
            raise ConfigError(f"{self.secret_key} vanished from Redis; start again")
        return found if isinstance(found, bytes) else str(found).encode()


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


def _long_enough(secret: bytes, where: str) -> bytes:
    """``secret`` if it is long enough to sign with, else ConfigError naming ``where``:
    a short one could be guessed offline from any cookie, then cookies forged."""
    if len(secret) < _SECRET_MIN:
        raise ConfigError(f"{where}: at least {_SECRET_MIN} characters expected")
    return secret


def _secret_file(path: Path) -> bytes:
    """The secret kept at ``path``, made once (mode 0600) when missing."""
    if not path.exists():
        _make_secret_file(path)
    return _long_enough(path.read_bytes().strip(), f"session secret {path}")


def _make_secret_file(path: Path) -> None:
    """Write a new secret to ``path`` unless another process made one meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    _write_private(draft, secrets.token_urlsafe(32))
    try:
        os.link(draft, path)  # atomic, and never over a secret another process made
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def _write_private(path: Path, text: str) -> None:
    """``text`` in a new file only its owner may read, on disk before it is linked."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
