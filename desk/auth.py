"""Who is asking: console sessions (cookie + CSRF token), API tokens, login throttling.

- The console logs in with email and password and gets a session cookie
  (``parley_desk_session``: HttpOnly, SameSite=Strict, Path=/desk, Secure when the request
  came over HTTPS, directly or as a trusted proxy's ``X-Forwarded-Proto`` says). The
  session lives in Redis under the SHA-256 of its token (a leaked Redis dump holds no
  usable cookie) with a sliding expiry, and carries a CSRF token the console sends as
  ``X-CSRF-Token`` on every state-changing request; a cookie alone changes nothing.
- An API client sends ``Authorization: Bearer <token>`` (``desk.accounts``: stored
  hashed); no cookie, so no CSRF token is needed.
- Failed logins are counted per account and per client address in Redis (shared by every
  replica): past ``ACCOUNT_FAILURES`` / ``ADDRESS_FAILURES`` within ``FAILURE_WINDOW``
  seconds the login is refused with 429 and ``Retry-After`` before the password is even
  checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from desk.accounts import Accounts, User

__all__ = ["ACCOUNT_FAILURES", "ADDRESS_FAILURES", "COOKIE", "FAILURE_WINDOW", "LoginThrottle",
           "Principal", "Sessions", "is_https"]

COOKIE = "parley_desk_session"
CSRF_HEADER = "X-CSRF-Token"
ACCOUNT_FAILURES = 5     # failed logins of one account per window
ADDRESS_FAILURES = 20    # failed logins from one client address per window
FAILURE_WINDOW = 900     # seconds
_SESSION_PREFIX = "parley:desk:session:"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the account, how it proved it (``session`` or
    ``token``) and, for a session, its CSRF token and session key."""

    user: User
    via: str
    csrf: str = ""
    session_key: str = ""


class Sessions:
    def __init__(self, client: aioredis.Redis, accounts: Accounts, *,
                 max_age: int = 12 * 3600) -> None:
        self._redis = client
        self._accounts = accounts
        self.max_age = max_age

    async def create(self, user: User) -> tuple[str, str]:
        """A new session for ``user``: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self._redis.set(_key(token), json.dumps({"user": user.id, "csrf": csrf}),
                              ex=self.max_age)
        return token, csrf

    async def drop(self, session_key: str) -> None:
        await self._redis.delete(session_key)

    async def drop_all_of(self, user_id: str) -> None:
        """End every session of a user (disabled, password changed by an admin)."""
        async for key in self._redis.scan_iter(match=_SESSION_PREFIX + "*", count=500):
            raw = await self._redis.get(key)
            if raw and json.loads(raw).get("user") == user_id:
                await self._redis.delete(key)

    async def principal(self, request: web.Request) -> Principal | None:
        """The caller, from a bearer token or the session cookie; ``None``: nobody."""
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            user = await self._accounts.user_for_token(token.strip())
            return Principal(user, "token") if user is not None and not user.disabled else None
        cookie = request.cookies.get(COOKIE, "")
        if not cookie or len(cookie) > 200:
            return None
        key = _key(cookie)
        raw = await self._redis.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        user = await self._accounts.get_user(str(data.get("user", "")))
        if user is None or user.disabled:
            return None
        await self._redis.expire(key, self.max_age)
        return Principal(user, "session", str(data.get("csrf", "")), key)


def csrf_ok(request: web.Request, principal: Principal) -> bool:
    """A state-changing request of a session carries its CSRF token (tokens need none)."""
    if principal.via != "session" or request.method in ("GET", "HEAD", "OPTIONS"):
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and hmac.compare_digest(sent.encode(), principal.csrf.encode())


class LoginThrottle:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def retry_after(self, email: str, address: str) -> int:
        """Seconds until a login of ``email`` from ``address`` may be tried (0: now)."""
        keys = [_fail_key("account", email), _fail_key("address", address)]
        counts = await self._redis.mget(keys)
        limits = (ACCOUNT_FAILURES, ADDRESS_FAILURES)
        wait = 0
        for key, count, limit in zip(keys, counts, limits, strict=True):
            if count is not None and int(count) >= limit:
                wait = max(wait, int(await self._redis.ttl(key)), 1)
        return wait

    async def failed(self, email: str, address: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        for key in (_fail_key("account", email), _fail_key("address", address)):
            pipe.incr(key)
            pipe.expire(key, FAILURE_WINDOW, nx=True)
        await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(_fail_key("account", email))


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str,
                       max_age: int) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age, path="/desk", httponly=True,
                        samesite="Strict", secure=is_https(request))


def is_https(request: web.Request) -> bool:
    """Over HTTPS: directly, or behind a proxy that says so (``X-Forwarded-Proto``; the
    gateway is meant to run behind one in production)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def _key(token: str) -> str:
    return _SESSION_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _fail_key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"parley:desk:login_failures:{kind}:{digest}"
