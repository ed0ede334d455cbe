"""The Twilio REST client of the WhatsApp channel, on the SDK's own aiohttp client.

Why a subclass: the SDK builds absolute ``https://api.twilio.com/…`` URLs, and tests (and
deployments that reach Twilio through a proxy) need another scheme and host, so every
request's scheme and host are rewritten to ``api_url``. It also passes a timeout on every
request (the SDK's async client passes ``None``, which aiohttp reads as "no timeout at all"),
and keeps the ``Retry-After`` of the last answer in a context variable, since the SDK's
exception does not carry headers. It is built without ``max_retries``, so the SDK never
retries on its own: the dispatcher's retry policy is the only one.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = ["RETRY_AFTER", "RewritingHttpClient", "twilio_client"]

# The Retry-After (seconds) of the last Twilio answer in this task; None if it had none.
RETRY_AFTER: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)


class RewritingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped SDK
    """Sends the SDK's requests to ``api_url`` on ``session`` (which it does not close)."""

    def __init__(self, api_url: str, session: aiohttp.ClientSession, *,
                 timeout: float = 10.0) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self._http = session
        parts = urlsplit(api_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    async def request(self, method: str, url: str, params: dict[str, Any] | None = None,
                      data: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        # The SDK's own ``request`` builds an ``aiohttp.BasicAuth``, deprecated in aiohttp
        # 3.14; the Authorization header is written here instead.
        parts = urlsplit(url)
        target = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, ""))
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        self.log_request({"method": method.upper(), "url": target, "params": params,
                          "headers": sent_headers})
        async with self._http.request(method.upper(), target, params=params, data=data,
                                      headers=sent_headers, timeout=limit,
                                      allow_redirects=allow_redirects) as answer:
            text = await answer.text()
            self.log_response(answer.status, answer)
            RETRY_AFTER.set(retry_after_seconds(answer.headers.get("Retry-After")))
            return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        """The session belongs to whoever gave it."""


def twilio_client(account_sid: str, auth_token: str, *, api_url: str,
                  session: aiohttp.ClientSession, timeout: float = 10.0) -> Client:
    """A ``twilio.rest.Client`` whose ``*_async`` calls go to ``api_url`` without blocking.

    Edge and region come from nowhere (not ``TWILIO_EDGE``/``TWILIO_REGION`` in the
    environment): the URL's host is rewritten anyway."""
    http = RewritingHttpClient(api_url, session, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http,
                  environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; ``None`` if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
