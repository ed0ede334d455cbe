"""The Slack channel's routes in the gateway, and its sender for the dispatcher.

- ``POST /channels/slack/events``: the Events API Request URL (``url_verification``
  included);
- ``POST /channels/slack/interactions``: the Interactivity Request URL (button clicks).

Both verify the signature (401), have the adapter parse the body (a malformed one → 400;
one Parley does not take, such as an ``event_callback`` without an event → 200, nothing
enqueued), hand the request to the adapter, whose listeners enqueue through the ingress
before bolt answers, and answer Slack with bolt's response: fast, and only once the
message is in Redis (Redis down → 503: Slack redelivers later). Redeliveries
(``X-Slack-Retry-Num``) carry the same ``event_id`` and are dropped by the ingress; they
are counted by reason in ``parley_slack_redeliveries`` (many of them mean slow acks).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Counter
from slack_bolt.adapter.aiohttp import to_aiohttp_response

from channels.slack.adapter import SlackAdapter
from channels.slack.parse import CHANNEL, pacing_key
from gateway.app_keys import HTTP, INGRESS, METRICS, PACERS, SENDERS, SETTINGS
from gateway.send_pacing import SendPacer
from gateway.slack.settings import SlackSettings

__all__ = ["SLACK", "add_channel"]

SLACK = web.AppKey("slack_adapter", SlackAdapter)
_REDELIVERIES = web.AppKey("slack_redeliveries", Counter)
# Slack's documented X-Slack-Retry-Reason values; anything else is counted as "other".
_REASONS = frozenset({"http_timeout", "too_many_redirects", "connection_failed",
                      "ssl_error", "http_error", "unknown_error"})


def add_channel(app: web.Application) -> None:
    """Register the routes and the sender, if Slack is configured."""
    settings = app[SETTINGS].slack
    if settings is None:
        return
    app.router.add_post("/channels/slack/events", _slack_request)
    app.router.add_post("/channels/slack/interactions", _slack_request)
    app[_REDELIVERIES] = Counter(
        "parley_slack_redeliveries", "Slack requests that were redeliveries, by Slack's reason",
        ["reason"], registry=app[METRICS].registry)
    app.cleanup_ctx.append(functools.partial(_slack_channel, settings=settings))


async def _slack_channel(app: web.Application, *, settings: SlackSettings
                         ) -> AsyncIterator[None]:
    adapter = SlackAdapter(signing_secret=settings.signing_secret,
                           bot_tokens=settings.bot_tokens, bot_token=settings.bot_token,
                           listen_channels=settings.listen_channels, api_url=settings.api_url,
                           session=app[HTTP], accept=app[INGRESS].accept)
    app[SLACK] = adapter
    app[SENDERS][CHANNEL] = adapter
    app[PACERS][CHANNEL] = SendPacer(per_chat=1.0, chat_of=pacing_key)
    yield
    # Nothing to close: the HTTP session belongs to the app, and bolt runs its listeners
    # inline (no background tasks).


async def _slack_request(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    adapter = request.app[SLACK]
    adapter.verify(request.headers, body)
    retry = request.headers.get("X-Slack-Retry-Num")
    if retry is not None:
        reason = request.headers.get("X-Slack-Retry-Reason", "")
        request.app[_REDELIVERIES].labels(reason if reason in _REASONS else "other").inc()
    parsed = adapter.parse(request.headers, body)  # BadRequest → 400 (the app's middleware)
    # auth.test unreachable → Unavailable → 503 (the app's middleware): Slack redelivers.
    response = await adapter.dispatch(parsed)
    return await to_aiohttp_response(response)
