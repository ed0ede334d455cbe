"""The website channel: a site's server posts messages to Parley and receives replies at
its callback URL (server to server; the browser chat is ``channels.web.chat``).

Inbound: ``POST /channels/web/messages`` with JSON ``{"conversation_id", "user_id",
"message_id", "text"}`` (or ``"payload"`` for a pressed button instead of ``text``, or
``"feedback"``: a person's rating, ``channels.models.Rating``, enqueued as an entry of kind
``feedback`` that no NLU parses; the site's ``message_id`` is its dedupe key),
authenticated by ``X-Parley-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
and ``X-Parley-Timestamp`` within the replay window, or by ``Authorization: Bearer``.
What the headers alone can settle is settled before the body is read (``verify_headers``):
a bearer token entirely, a signature's form and its timestamp's freshness; the HMAC needs
the body (``verify``). Header values are compared as given, never decoded, so no client
bytes can make a check raise anything but ``Unauthorized``.
Outbound: a JSON POST to the callback URL, signed the same way, with a delivery id that
stays the same across retries (``X-Parley-Delivery-Id``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import msgspec

from channels.errors import BadRequest, PermanentSendError, TransientSendError, Unauthorized
from channels.identifiers import MAX_ID_LENGTH, is_valid_id, without_lone_surrogates
from channels.models import InboundMessage, InvalidRating, OutboundMessage, rating_from

__all__ = ["WebAdapter", "delivery_id", "sign", "verify_signature", "verify_signed_headers"]

SIGNATURE_HEADER = "X-Parley-Signature"
TIMESTAMP_HEADER = "X-Parley-Timestamp"
DELIVERY_HEADER = "X-Parley-Delivery-Id"
# ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), and few enough
# of them for ``int`` (it refuses over 4300): Unix seconds have 10 until the year 2286.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


class _WebMessage(msgspec.Struct, forbid_unknown_fields=True):
    conversation_id: str
    user_id: str
    message_id: str
    text: str | None = None
    payload: str | None = None
    feedback: Any = None


_decoder = msgspec.json.Decoder(_WebMessage)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (the test/fake twin)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signed_headers(headers: Mapping[str, str], *, window: int,
                          now: Callable[[], float] = time.time) -> None:
    """Raise ``Unauthorized`` unless the headers carry a well-formed signature and a
    timestamp within ``window`` seconds of ``now``: all a signature's check needs but
    the body."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not given or not timestamp:
        raise Unauthorized("missing signature or timestamp")
    if _TIMESTAMP.fullmatch(timestamp) is None:
        raise Unauthorized("malformed timestamp")
    if _SIGNATURE.fullmatch(given) is None:
        raise Unauthorized("malformed signature")
    if abs(now() - int(timestamp)) > window:
        raise Unauthorized("stale timestamp")


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, *,
                     window: int, now: Callable[[], float] = time.time) -> None:
    """Raise ``Unauthorized`` unless the signature is right and the timestamp fresh."""
    verify_signed_headers(headers, window=window, now=now)
    expected = sign(secret, headers[TIMESTAMP_HEADER], body)
    if not hmac.compare_digest(expected, headers[SIGNATURE_HEADER]):  # both ASCII, checked
        raise Unauthorized("bad signature")


class WebAdapter:
    name = "web"

    def __init__(self, *, secret: str | None, token: str | None, callback_url: str | None,
                 window: int, account: str = "site", session: aiohttp.ClientSession | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._secret, self._token = secret, token
        self._callback_url = callback_url
        self._window = window
        self._account = account
        self._session = session
        self._now = now

    def verify_headers(self, headers: Mapping[str, str]) -> None:
        """Raise ``Unauthorized`` unless the headers carry the right bearer token, or a
        well-formed and fresh signature (whose HMAC ``verify`` checks with the body)."""
        if self._secret and headers.get(SIGNATURE_HEADER):
            verify_signed_headers(headers, window=self._window, now=self._now)
        elif not self._bearer_matches(headers):
            raise Unauthorized("missing or wrong credentials")

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._secret and headers.get(SIGNATURE_HEADER):
            verify_signature(self._secret, headers, body, window=self._window, now=self._now)
        elif not self._bearer_matches(headers):
            raise Unauthorized("missing or wrong credentials")

    def _bearer_matches(self, headers: Mapping[str, str]) -> bool:
        auth = headers.get("Authorization", "")
        if not (self._token and auth.startswith("Bearer ")):
            return False
        # "surrogatepass": a header's undecodable bytes (aiohttp keeps them as surrogates)
        # encode to bytes no valid token has, instead of raising.
        given = auth[7:].encode("utf-8", "surrogatepass")
        return hmac.compare_digest(given, self._token.encode())

    def parse(self, body: bytes) -> list[InboundMessage]:
        try:
            data = _decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"invalid message: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise BadRequest("the body is not valid JSON") from exc
        except RecursionError as exc:
            raise BadRequest("the body is nested too deeply") from exc
        given = [name for name in ("text", "payload", "feedback")
                 if getattr(data, name) is not None]
        if len(given) != 1:
            raise BadRequest("give exactly one of 'text', 'payload' and 'feedback'")
        for name in ("conversation_id", "user_id", "message_id"):
            if not is_valid_id(getattr(data, name)):
                raise BadRequest(f"'{name}' must be 1 to {MAX_ID_LENGTH} printable ASCII "
                                 "characters without spaces")
        if data.feedback is not None:
            return [self._rating(data)]
        return [InboundMessage(channel=self.name, account=self._account,
                               chat=data.conversation_id, user_id=data.user_id,
                               message_id=data.message_id, text=data.text or "",
                               payload=data.payload, received_at=self._now())]

    def _rating(self, data: _WebMessage) -> InboundMessage:
        try:
            rating = rating_from(data.feedback)
        except InvalidRating as exc:
            raise BadRequest(str(exc)) from exc
        control = {**rating.to_control(),
                   "comment": without_lone_surrogates(rating.comment).strip()}
        return InboundMessage(channel=self.name, account=self._account,
                              chat=data.conversation_id, user_id=data.user_id,
                              message_id=data.message_id, kind="feedback", control=control,
                              received_at=self._now())

    def render(self, message: OutboundMessage) -> bytes:
        chat = message.conversation_id.split(":", 2)[-1]
        return msgspec.json.encode({
            "delivery_id": delivery_id(message),
            "conversation_id": chat, "in_reply_to": message.in_reply_to,
            "sequence": message.sequence, "index": message.index, "text": message.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
            "image": message.image})

    async def send(self, message: OutboundMessage) -> None:
        """One delivery attempt; the dispatcher decides about retries."""
        if not self._callback_url or self._session is None:
            raise PermanentSendError("no callback URL is configured (PARLEY_WEB_CALLBACK_URL)")
        body = self.render(message)
        timestamp = str(int(self._now()))
        key = self._secret or self._token or ""
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(key, timestamp, body),
                   DELIVERY_HEADER: delivery_id(message)}
        try:
            async with self._session.post(self._callback_url, data=body,
                                          headers=headers) as response:
                _check(response.status, response.headers)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise TransientSendError(f"callback unreachable: {type(exc).__name__}") from exc


def delivery_id(message: OutboundMessage) -> str:
    """The same for every attempt to deliver one reply: the site's key to drop repeats.

    A callback that times out may still have been processed by the site, so a retry can
    repeat a delivery; exactly-once at the site needs it to keep the ids it has seen."""
    return f"{message.conversation_id}:{message.sequence}:{message.index}"


def _check(status: int, headers: Mapping[str, Any]) -> None:
    if status < 300:
        return
    if status == 429 or status >= 500:
        raise TransientSendError(f"callback answered {status}", _retry_after(headers))
    raise PermanentSendError(f"callback answered {status}")


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None
