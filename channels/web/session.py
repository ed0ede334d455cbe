"""Browser sessions: a signed token names the visitor's conversation.

The token is ``v1.<session id>.<issued at>.<HMAC-SHA256>``. The session id is 128 random
bits chosen by the gateway (never by the browser), so a conversation cannot be guessed;
the MAC, keyed by ``PARLEY_SESSION_SECRET``, means a token cannot be forged or pointed at
another conversation. Every replica with the same secret accepts it. Tokens expire
``max_age`` seconds after issue; the widget asks for a fresh one whenever it connects.
A token is checked for its form (ASCII, the parts above) before its MAC, so whatever a
browser sends, ``verify`` answers a ``Session`` or ``Unauthorized``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels.errors import Unauthorized

__all__ = ["Session", "SessionSigner"]

# What ``issue`` makes: a URL-safe session id, issue time in Unix seconds, a hex MAC.
_SESSION_ID = r"[A-Za-z0-9_-]{1,64}"
_TOKEN = re.compile(rf"v1\.({_SESSION_ID})\.([0-9]{{1,12}})\.([0-9a-f]{{64}})")


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    issued_at: int


class SessionSigner:
    def __init__(self, secret: str, *, max_age: int, now: Callable[[], float] = time.time
                 ) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 characters")
        self._key = secret.encode()
        self._max_age = max_age
        self._now = now

    def issue(self, session_id: str | None = None) -> tuple[str, Session]:
        """A token for ``session_id`` (a new random one when None): ids of a verified
        token only, so a token always has the form ``verify`` takes."""
        if session_id is not None and re.fullmatch(_SESSION_ID, session_id) is None:
            raise ValueError("a session id is 1 to 64 URL-safe base64 characters")
        sid = session_id or base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        issued = int(self._now())
        body = f"v1.{sid}.{issued}"
        return f"{body}.{self._mac(body)}", Session(sid, issued)

    def verify(self, token: str) -> Session:
        """The session ``token`` names; ``Unauthorized`` if forged, malformed or expired."""
        found = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if found is None:
            raise Unauthorized("malformed session token")
        session_id, issued_at, mac = found.groups()
        if not hmac.compare_digest(self._mac(f"v1.{session_id}.{issued_at}"), mac):
            raise Unauthorized("invalid session token")
        issued = int(issued_at)
        if self._now() - issued > self._max_age:
            raise Unauthorized("session token expired")
        return Session(session_id, issued)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
