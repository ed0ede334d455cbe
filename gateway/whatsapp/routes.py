"""The WhatsApp channel's routes in the gateway, and its sender for the dispatcher.

- ``POST /channels/whatsapp``: Twilio's incoming-message webhook. Verify the signature
  over ``PARLEY_WHATSAPP_PUBLIC_URL`` + the path (→ 401), parse (→ 400), turn a numbered
  answer into its button's payload, enqueue (``MessageSid`` dedupes), and only then answer
  with an empty TwiML ``<Response/>``: replies go out later through the Messages API.
- ``POST /channels/whatsapp/status``: Twilio's status callbacks, signed the same way;
  recorded, counted, and failures acted on (``gateway.whatsapp.delivery``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter
from twilio.twiml.messaging_response import MessagingResponse

from channels.errors import Unauthorized
from channels.whatsapp.adapter import WhatsAppAdapter
from channels.whatsapp.client import twilio_client
from gateway.app_keys import HTTP, INGRESS, METRICS, PACERS, REDIS, SENDERS, SETTINGS
from gateway.log_throttle import Throttle
from gateway.send_pacing import SendPacer
from gateway.whatsapp.delivery import StatusRecorder, WhatsAppSender
from gateway.whatsapp.settings import WhatsAppSettings
from gateway.whatsapp.state import WhatsAppState

__all__ = ["STATUS_PATH", "WEBHOOK_PATH", "add_channel"]

WEBHOOK_PATH = "/channels/whatsapp"
STATUS_PATH = "/channels/whatsapp/status"
_EMPTY_TWIML = str(MessagingResponse())
_log = logging.getLogger("parley.gateway.whatsapp")
_REFUSALS = Throttle()  # the hint below: once per client address a minute


@dataclass(frozen=True, slots=True)
class _WhatsApp:
    adapter: WhatsAppAdapter
    state: WhatsAppState
    statuses: StatusRecorder
    public_url: str

    def signed_url(self, path: str, request: web.Request) -> str:
        """The URL Twilio called, and signed: the public one, not what the proxy made of it."""
        query = request.rel_url.raw_query_string
        return f"{self.public_url}{path}" + (f"?{query}" if query else "")

    def verify(self, path: str, request: web.Request, body: bytes) -> None:
        url = self.signed_url(path, request)
        try:
            self.adapter.verify(request.headers, body, url)
        except Unauthorized as exc:
            if _REFUSALS.allow(request.remote) is not None:
                _log.warning("refused a request to %s from %s: %s (Twilio signs over the URL "
                             "configured in its console, which must be %s)", path,
                             request.remote, exc, url)
            raise


_WHATSAPP = web.AppKey("whatsapp", _WhatsApp)


def add_channel(app: web.Application) -> None:
    """Register the routes and the sender, if WhatsApp is configured."""
    settings = app[SETTINGS].whatsapp
    if settings is None:
        return
    registry = app[METRICS].registry
    statuses = Counter("parley_whatsapp_statuses", "Twilio delivery reports by status",
                       ["status"], registry=registry)
    failures = Counter("parley_whatsapp_failed_replies",
                       "Replies Twilio reported failed, by what was done: template sent "
                       "instead, dropped, reported in the dead-letter stream", ["outcome"],
                       registry=registry)

    async def start(app: web.Application) -> AsyncIterator[None]:
        state = WhatsAppState(app[REDIS], retention=app[SETTINGS].retention)
        adapter = _adapter(settings, app)
        recorder = StatusRecorder(state, template_sid=settings.template_sid,
                                  statuses=statuses, failures=failures,
                                  dead_lettered=app[METRICS].dead_lettered)
        app[_WHATSAPP] = _WhatsApp(adapter, state, recorder, settings.public_url)
        app[SENDERS]["whatsapp"] = WhatsAppSender(adapter, state)
        app[PACERS]["whatsapp"] = SendPacer(overall=settings.rate)
        yield  # nothing of its own to close: Redis and the HTTP session are the app's

    app.router.add_post(WEBHOOK_PATH, _incoming)
    app.router.add_post(STATUS_PATH, _status)
    app.cleanup_ctx.append(start)


def _adapter(settings: WhatsAppSettings, app: web.Application) -> WhatsAppAdapter:
    client = twilio_client(settings.account_sid, settings.auth_token,
                           api_url=settings.api_url, session=app[HTTP])
    return WhatsAppAdapter(auth_token=settings.auth_token, from_number=settings.from_number,
                           client=client, status_callback=settings.public_url + STATUS_PATH,
                           template_sid=settings.template_sid)


async def _incoming(request: web.Request) -> web.Response:
    body = await request.read()
    whatsapp = request.app[_WHATSAPP]
    whatsapp.verify(WEBHOOK_PATH, request, body)
    for message in whatsapp.adapter.parse(body):
        await request.app[INGRESS].accept(await whatsapp.state.choose(message))
    # Only now, with the message in Redis: Twilio gives up on a webhook after 15 s.
    return web.Response(text=_EMPTY_TWIML, content_type="text/xml")


async def _status(request: web.Request) -> web.Response:
    body = await request.read()
    whatsapp = request.app[_WHATSAPP]
    whatsapp.verify(STATUS_PATH, request, body)
    report = whatsapp.adapter.parse_status(body)
    if report is not None:
        await whatsapp.statuses.record(report)
    return web.Response(text=_EMPTY_TWIML, content_type="text/xml")
