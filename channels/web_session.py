"""Browser sessions: a signed token names the visitor's conversation.

The token is ``v1.<session id>.<issued at>.<HMAC-SHA256>``. The session id is 128 random
bits chosen by the gateway (never by the browser), so a conversation cannot be guessed;
the MAC, keyed by ``PARLEY_SESSION_SECRET``, means a token cannot be forged or pointed at
another conversation. Every replica with the same secret accepts it. Tokens expire
``max_age`` seconds after issue; the widget asks for a fresh one whenever it connects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels.errors import Unauthorized

__all__ = ["Session", "SessionSigner"]


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
        """A token for ``session_id`` (a new random one when None)."""
        sid = session_id or base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        issued = int(self._now())
        body = f"v1.{sid}.{issued}"
        return f"{body}.{self._mac(body)}", Session(sid, issued)

    def verify(self, token: str) -> Session:
        """The session ``token`` names; ``Unauthorized`` if forged, malformed or expired."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            raise Unauthorized("malformed session token")
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(body), parts[3]):
            raise Unauthorized("invalid session token")
        issued = int(parts[2])
        if self._now() - issued > self._max_age:
            raise Unauthorized("session token expired")
        return Session(parts[1], issued)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
