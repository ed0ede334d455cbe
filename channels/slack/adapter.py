"""The Slack channel: the Events API and interactivity in, ``chat.postMessage`` out.

In: ``verify`` checks the v0 signature (HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the
signing secret, timestamp within 5 minutes); ``parse`` reads the body into typed structs
(``channels.slack.parse.decode_request``: ``BadRequest`` for a malformed one) and makes of
what Parley takes a bolt request holding only those fields, or ``None`` for what it skips
(answered 200 without bolt: Slack retries anything else, and bolt alone would answer 404);
then ``dispatch`` runs the request through slack_bolt's ``AsyncApp``: its built-in
middleware answers ``url_verification``, finds the workspace's bot (``authorize``: team
id → configured token, the bot's user id learned once per team with ``auth.test``) and
drops the bot's own events; the listeners parse (``channels.slack.parse``) and hand the
message to ``accept`` (the gateway's ingress) *before* bolt acknowledges:
``process_before_response`` runs listeners inline, so nothing outlives the request, and
Slack (which redelivers after 3 s) is answered once the message is in Redis, not after the
turn.

Out: ``send`` makes one ``chat.postMessage`` attempt with the workspace's token; the
client has no retry handlers, so the dispatcher alone retries (429 ``Retry-After``, 5xx,
timeouts → ``TransientSendError``; other refusals → ``PermanentSendError``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.errors import (
    BadRequest,
    PermanentSendError,
    SendError,
    TransientSendError,
    Unauthorized,
    Unavailable,
)
from channels.models import InboundMessage, OutboundMessage
from channels.slack.parse import (
    CHANNEL,
    EventContext,
    Skipped,
    address,
    as_bolt_body,
    decode_request,
    parse_block_action,
    parse_event,
)
from channels.slack.render import render

__all__ = ["SlackAdapter", "sign", "verifier", "verify_signature"]

WINDOW_SECONDS = 300  # Slack's replay window for signed requests
_TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error",
                               "service_unavailable", "request_timeout"})
# ASCII digits, few enough for ``int`` (``str.isdigit`` takes "²"; ``int`` refuses it, and
# refuses more than 4300 digits).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_FAILURE = "parley_failure"  # where the bolt error handler leaves a listener's exception
_log = logging.getLogger("parley.channels.slack")

Accept = Callable[[InboundMessage], Awaitable[object]]


def sign(secret: str, timestamp: str, body: bytes | str) -> str:
    """The ``X-Slack-Signature`` Slack sends with ``body`` at ``timestamp`` (tests, fakes)."""
    return str(SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body))


def verify_signature(verifier: SignatureVerifier, headers: Mapping[str, str],
                     body: bytes) -> None:
    """Raise ``Unauthorized`` unless ``body`` carries a valid v0 signature made within
    ``WINDOW_SECONDS`` of the verifier's clock; ``BadRequest`` if it is not UTF-8."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    if not timestamp or not signature:
        raise Unauthorized("missing Slack signature or timestamp")
    if _TIMESTAMP.fullmatch(timestamp) is None:
        raise Unauthorized("malformed Slack request timestamp")
    if not signature.isascii():  # the SDK's compare_digest raises on other strings
        raise Unauthorized("malformed Slack signature")
    if abs(verifier.clock.now() - int(timestamp)) > WINDOW_SECONDS:
        raise Unauthorized("stale Slack request timestamp")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8") from exc
    if not verifier.is_valid(text, timestamp, signature):
        raise Unauthorized("bad Slack signature")


def verifier(secret: str, now: Callable[[], float] = time.time) -> SignatureVerifier:
    """The SDK's verifier with an injected clock."""
    return SignatureVerifier(secret, clock=_InjectedClock(now))


class _InjectedClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackAdapter:
    name = CHANNEL

    def __init__(self, *, signing_secret: str, bot_tokens: Mapping[str, str],
                 bot_token: str | None, listen_channels: frozenset[str], api_url: str,
                 session: aiohttp.ClientSession, accept: Accept,
                 now: Callable[[], float] = time.time) -> None:
        self._verifier = verifier(signing_secret, now)
        self._now = now
        self._listen = listen_channels
        self._accept = accept
        self._api_url, self._session = api_url, session
        self._clients = {team: self._client(token) for team, token in bot_tokens.items()}
        self._single = self._client(bot_token) if bot_token else None
        self._bots: dict[str, AuthorizeResult] = {}
        self._auth_lock = asyncio.Lock()
        self._bolt = self._bolt_app(signing_secret)

    def _client(self, token: str | None) -> AsyncWebClient:
        # No retry handlers: one attempt per call; the dispatcher owns retries.
        return AsyncWebClient(token=token, base_url=self._api_url, session=self._session,
                              retry_handlers=[], logger=_log)

    def _client_for(self, team_id: str | None) -> AsyncWebClient | None:
        return self._clients.get(team_id or "") or self._single

    # -- in ------------------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ``Unauthorized`` unless Slack signed ``body`` within the last 5 minutes.

        Done here rather than by bolt's RequestVerification (switched off) so that a
        malformed timestamp is a 401, not bolt's 500, and nothing logs the received
        signature or the body (bolt's logs both at INFO)."""
        verify_signature(self._verifier, headers, body)

    def parse(self, headers: Mapping[str, str], body: bytes) -> AsyncBoltRequest | None:
        """The bolt request for a verified body, or ``None`` if it is not Parley's to take
        (shortcuts, modals, menus, unknown events: answered 200 by ``dispatch``, where
        bolt would answer 404 and log a warning); ``BadRequest`` if it is malformed."""
        lowered = {k.lower(): v for k, v in headers.items()}
        payload = decode_request(body, lowered.get("content-type", ""))
        if isinstance(payload, Skipped):
            if payload.warn:
                _log.warning("%s", payload.reason)
            else:
                _log.debug("skipped Slack request: %s", payload.reason)
            return None
        kept = {name: value for name, value in lowered.items()
                if name.startswith("x-slack-retry-")}
        return AsyncBoltRequest(body=as_bolt_body(payload),
                                headers={**kept, "content-type": "application/json"})

    async def dispatch(self, request: AsyncBoltRequest | None) -> BoltResponse:
        """Bolt's answer to a parsed request, given after the listener has run (200 and
        nothing else for ``None``, a request Parley skips).

        Bolt turns a listener's exception into a 500 of its own; it is raised again here so
        that the gateway answers as for any channel (503 when Redis is down: Slack
        redelivers)."""
        if request is None:
            return BoltResponse(status=200, body="")
        response = await self._bolt.async_dispatch(request)
        failure = request.context.get(_FAILURE)
        if isinstance(failure, Exception):
            raise failure
        return response

    def _bolt_app(self, signing_secret: str) -> AsyncApp:
        # Closures, not bound methods: bolt injects arguments by parameter name, and
        # would pass ``self=None`` to a method.
        async def authorize(team_id: str | None) -> AuthorizeResult | None:
            return await self._authorize(team_id)

        async def on_event(body: dict[str, Any], context: AsyncBoltContext) -> None:
            await self._take(parse_event(body, self._context(context)))

        async def on_action(body: dict[str, Any], context: AsyncBoltContext,
                            ack: AsyncAck) -> None:
            await self._take(parse_block_action(body, self._context(context)))
            await ack()

        async def on_error(error: Exception, request: AsyncBoltRequest) -> None:
            request.context[_FAILURE] = error

        bolt = AsyncApp(name="parley-slack", signing_secret=signing_secret,
                        client=self._client(None),
                        # bolt's annotation omits it, but None is how authorize says
                        # "not installed here" (bolt then answers without a listener).
                        authorize=cast(Callable[..., Awaitable[AuthorizeResult]], authorize),
                        process_before_response=True, request_verification_enabled=False,
                        attaching_conversation_kwargs_enabled=False)
        bolt.event(re.compile(".*"))(on_event)
        bolt.action(re.compile(".*"))(on_action)
        bolt.error(on_error)
        return bolt

    def _context(self, context: AsyncBoltContext) -> EventContext:
        return EventContext(team_id=context.team_id or "", bot_user_id=context.bot_user_id,
                            listen_channels=self._listen, now=self._now())

    async def _take(self, message: InboundMessage | None) -> None:
        if message is not None:
            await self._accept(message)

    async def _authorize(self, team_id: str | None) -> AuthorizeResult | None:
        """The workspace's bot: its token from configuration, its ids from ``auth.test``
        (once per team; bolt needs them to drop the bot's own events)."""
        key = team_id or ""
        async with self._auth_lock:
            known = self._bots.get(key)
            if known is not None:
                return known
            client = self._client_for(team_id)
            if client is None:
                _log.error("Slack request from workspace %s ignored: it has no bot token in "
                           "PARLEY_SLACK_BOT_TOKENS", team_id)
                return None
            try:
                answer = await client.auth_test()
            except SlackApiError as exc:
                failure = _send_error("auth.test", exc)
                if isinstance(failure, TransientSendError):
                    raise Unavailable(f"Slack auth.test: {failure}") from exc
                _log.error("Slack workspace %s: its bot token was refused (%s)", team_id, failure)
                return None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise Unavailable(f"Slack auth.test failed: {type(exc).__name__}") from exc
            bot = AuthorizeResult.from_auth_test_response(bot_token=client.token,
                                                          auth_test_response=answer)
            self._bots[key] = bot
            return bot

    # -- out -----------------------------------------------------------------------------

    def render(self, message: OutboundMessage) -> dict[str, Any]:
        """The ``chat.postMessage`` arguments of ``message`` (``channels.slack.render``)."""
        return render(message)

    async def send(self, message: OutboundMessage) -> None:
        """One ``chat.postMessage`` attempt; the dispatcher decides about retries."""
        try:
            arguments = self.render(message)
            team_id = address(message.conversation_id).team_id
        except ValueError as exc:
            raise PermanentSendError(f"Slack reply not sendable: {exc}") from exc
        client = self._client_for(team_id)
        if client is None:
            raise PermanentSendError(f"no bot token for Slack workspace {team_id} "
                                     "(PARLEY_SLACK_BOT_TOKENS)")
        try:
            await client.chat_postMessage(**arguments)
        except SlackApiError as exc:
            raise _send_error("chat.postMessage", exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"Slack unreachable: {type(exc).__name__}") from exc


def _send_error(method: str, exc: SlackApiError) -> SendError:
    response = exc.response
    status = int(response.status_code)
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or status >= 500 or error in _TRANSIENT_ERRORS:
        return TransientSendError(f"Slack {method}: {error} (HTTP {status})",
                                  _retry_after(response.headers))
    return PermanentSendError(f"Slack {method} refused: {error}")


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "")))
    except (TypeError, ValueError):
        return None
