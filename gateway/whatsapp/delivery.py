"""Delivering WhatsApp replies, and what happens when Twilio reports on them.

``WhatsAppSender`` is the dispatcher's sender: one Twilio call per attempt, then the
bookkeeping (what the message carried, the choices it offers). ``StatusRecorder`` handles
Twilio's status callbacks: it keeps each message's furthest status, counts reports by
status, and acts once on a failure (Twilio may repeat a callback):

- error 63016, outside the 24-hour window: the configured template (``ContentSid``) goes
  on the outbound stream for the dispatcher to send; without one, the reply is dropped
  and the reason logged;
- any other failure: logged with Twilio's error code and reported in the dead-letter
  stream, like a reply the dispatcher gave up on.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from redis.exceptions import RedisError

from channels.models import OutboundMessage
from channels.whatsapp.adapter import OUTSIDE_WINDOW, StatusReport, WhatsAppAdapter
from gateway.whatsapp.state import SentReply, WhatsAppState

__all__ = ["StatusRecorder", "WhatsAppSender"]

_log = logging.getLogger("parley.gateway.whatsapp")


class WhatsAppSender:
    def __init__(self, adapter: WhatsAppAdapter, state: WhatsAppState) -> None:
        self._adapter = adapter
        self._state = state

    async def send(self, message: OutboundMessage) -> None:
        sent = await self._adapter.send(message)
        try:
            await self._state.after_send(sent.sid, message, template=sent.template is not None)
        except RedisError as exc:
            # Delivered all the same: only status attribution and numbered answers suffer.
            _log.warning("reply %s sent to %s but not remembered (Redis: %s)", sent.sid,
                         message.conversation_id, exc)


class StatusRecorder:
    """``statuses``: counter labelled by status; ``failures``: by outcome (``template``,
    ``dropped``, ``reported``); ``dead_lettered``: the dispatcher's, labelled by channel."""

    def __init__(self, state: WhatsAppState, *, template_sid: str | None, statuses: Counter,
                 failures: Counter, dead_lettered: Counter) -> None:
        self._state = state
        self._template = template_sid
        self._statuses = statuses
        self._failures = failures
        self._dead_lettered = dead_lettered

    async def record(self, report: StatusReport) -> None:
        self._statuses.labels(report.status).inc()
        sent = await self._state.record(report)
        if not report.failed:
            return  # repeats of a failure are told apart below, where it is acted on
        if not sent.conversation_id:
            _log.error("message %s failed (Twilio error %s) but its conversation is unknown",
                       report.sid, report.error_code)
            return
        if report.error_code == OUTSIDE_WINDOW and not sent.template:
            await self._outside_window(sent)
        else:
            await self._report(report, sent)

    async def _outside_window(self, sent: SentReply) -> None:
        if self._template is None:
            if not sent.changed:
                return  # Twilio repeated the callback: said already
            self._failures.labels("dropped").inc()
            _log.warning("reply %s to %s dropped: outside WhatsApp's 24-hour window (Twilio "
                         "error 63016) and no PARLEY_WHATSAPP_TEMPLATE_SID to send instead",
                         sent.sid, sent.conversation_id)
            return
        template = OutboundMessage(
            conversation_id=sent.conversation_id, channel="whatsapp",
            in_reply_to=sent.in_reply_to or sent.sid, sequence=sent.sequence,
            index=sent.index, text="", template=self._template)
        if await self._state.queue_once(sent.sid, template):
            self._failures.labels("template").inc()
            _log.info("reply %s to %s was outside the 24-hour window (Twilio error 63016); "
                      "template %s queued instead", sent.sid, sent.conversation_id,
                      self._template)

    async def _report(self, report: StatusReport, sent: SentReply) -> None:
        what = "template" if sent.template else "reply"
        reason = (f"Twilio reported the {what} {report.status}, error {report.error_code}"
                  + (f": {report.error_message}" if report.error_message else ""))
        if await self._state.dead_letter_once(sent, reason):
            self._failures.labels("reported").inc()
            self._dead_lettered.labels("whatsapp").inc()
            _log.error("%s %s of conversation %s dead-lettered: %s", what, sent.sid,
                       sent.conversation_id, reason)
