"""The WhatsApp channel through Twilio: verify, parse, render, send.

Inbound: Twilio POSTs a form (``application/x-www-form-urlencoded``) per message to the
webhook URL, signed in ``X-Twilio-Signature`` with the account's auth token over the URL it
called (the *public* one, whatever a proxy makes of it) and the form's fields; the SDK's
``RequestValidator`` checks it. ``MessageSid`` is the dedupe key; ``NumMedia`` /
``MediaUrl<n>`` / ``MediaContentType<n>`` become attachments; a template's quick-reply
button arrives as ``ButtonPayload``. Delivery reports arrive the same way at the status
callback URL and become ``StatusReport`` values. Numbers in a form (``NumMedia``,
``ErrorCode``) are ASCII digits or the request is malformed (``BadRequest``): ``str.isdigit``
would take "²", which ``int`` refuses.

Outbound: one ``messages.create_async`` call per reply (the SDK's aiohttp client, never
the blocking one) from and to ``whatsapp:`` addresses, with a status callback. Twilio error
63016 (outside the 24-hour session window) answered at once is retried with the configured
template (``ContentSid``) when there is one. Errors map to ``TransientSendError`` (429,
5xx, timeouts, connection errors; with Twilio's ``Retry-After``) and ``PermanentSendError``
(any other refusal). Twilio usually reports 63016 later, through the status callback.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

import aiohttp
import msgspec
from multidict import MultiDict
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.errors import (
    BadRequest,
    PermanentSendError,
    SendError,
    TransientSendError,
    Unauthorized,
)
from channels.models import Attachment, InboundMessage, OutboundMessage
from channels.whatsapp.client import RETRY_AFTER
from channels.whatsapp.render import message_params

__all__ = ["OUTSIDE_WINDOW", "SIGNATURE_HEADER", "STATUS_RANK", "SentMessage", "StatusReport",
           "WhatsAppAdapter", "parse_form", "sign"]

SIGNATURE_HEADER = "X-Twilio-Signature"
OUTSIDE_WINDOW = 63016  # Twilio: free-form message outside the 24-hour window
# How far along a message is: a report of an earlier stage arriving late changes nothing.
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
               "delivered": 3, "read": 4, "failed": 5, "undelivered": 5, "canceled": 5}
MAX_MEDIA = 10  # Twilio delivers at most ten media per message
_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_MEDIA_COUNT = re.compile(r"[0-9]{1,3}")
_ERROR_CODE = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"whatsapp:(\+[1-9][0-9]{6,14})")
_RAW_FIELDS = ("MessageType", "ProfileName", "WaId", "NumMedia", "ButtonText")
_log = logging.getLogger("parley.channels.whatsapp")


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery report of a message the business sent."""

    sid: str
    status: str
    error_code: int | None = None
    error_message: str = ""
    business: str = ""  # E.164 numbers, as in the conversation id
    person: str = ""

    @property
    def rank(self) -> int:
        return STATUS_RANK[self.status]

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "undelivered")


class SentMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message Twilio accepted: its SID, and the template's ContentSid if it was one."""

    sid: str
    template: str | None = None


def parse_form(body: bytes) -> MultiDict[str]:
    """The fields of a form body, blanks kept (Twilio signs them too)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the body is not a UTF-8 form of at most 500 fields") from exc
    return MultiDict(pairs)


def sign(auth_token: str, url: str, body: bytes) -> str:
    """The ``X-Twilio-Signature`` Twilio would send with ``body`` to ``url`` (tests, fakes)."""
    return str(RequestValidator(auth_token).compute_signature(url, parse_form(body)))


class WhatsAppAdapter:
    name = "whatsapp"

    def __init__(self, *, auth_token: str, from_number: str, client: Client | None = None,
                 status_callback: str | None = None, template_sid: str | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._validator = RequestValidator(auth_token)
        self._from = from_number
        self._client = client
        self._status_callback = status_callback
        self._template = template_sid
        self._now = now

    def verify(self, headers: Mapping[str, str], body: bytes, url: str) -> None:
        """Raise ``Unauthorized`` unless ``body`` was signed for ``url`` with our token."""
        signature = headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise Unauthorized(f"missing {SIGNATURE_HEADER}")
        form = parse_form(body)
        try:
            valid = self._validator.validate(url, form, signature)
        except (ValueError, UnicodeError) as exc:  # a URL or query the SDK cannot encode
            raise Unauthorized(f"bad {SIGNATURE_HEADER}") from exc
        if not valid:
            raise Unauthorized(f"bad {SIGNATURE_HEADER}")

    def parse(self, body: bytes) -> list[InboundMessage]:
        """The person's message, or nothing for what is not one (logged at debug)."""
        form = parse_form(body)
        sid = form.get("MessageSid", "")
        if not _SID.fullmatch(sid):
            raise BadRequest("MessageSid is missing or not a message SID")
        kind = _kind(form)
        if kind != "message":
            _log.debug("skipped %s: %s", sid, kind)
            return []
        person, business = _number(form, "From"), _number(form, "To")
        if business != self._from:
            _log.warning("skipped %s: sent to %s, not to PARLEY_WHATSAPP_FROM", sid, business)
            return []
        message = InboundMessage(
            channel=self.name, account=business, chat=person, user_id=person, message_id=sid,
            text=form.get("Body", ""), payload=form.get("ButtonPayload") or None,
            attachments=_attachments(form), received_at=self._now(),
            raw={name: form[name] for name in _RAW_FIELDS if form.get(name)})
        if not (message.text or message.payload or message.attachments):
            _log.debug("skipped %s: no text, button or media (%s)", sid,
                       form.get("MessageType", "untyped"))
            return []
        return [message]

    def parse_status(self, body: bytes) -> StatusReport | None:
        """The delivery report in a status callback; ``None`` for a status we do not track."""
        form = parse_form(body)
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if not _SID.fullmatch(sid):
            raise BadRequest("MessageSid is missing or not a message SID")
        if status not in STATUS_RANK:
            _log.debug("skipped status %r of %s", status, sid)
            return None
        code = form.get("ErrorCode", "")
        if code and _ERROR_CODE.fullmatch(code) is None:
            raise BadRequest("ErrorCode must be a whole number")
        return StatusReport(sid=sid, status=status,
                            error_code=int(code) if code else None,
                            error_message=form.get("ErrorMessage", "")[:200],
                            business=_number(form, "From", strict=False),
                            person=_number(form, "To", strict=False))

    def render(self, message: OutboundMessage) -> dict[str, object]:
        return message_params(message, from_number=self._from,
                              status_callback=self._status_callback)

    async def send(self, message: OutboundMessage) -> SentMessage:
        """One attempt; what Twilio accepted: the reply, or the template sent instead."""
        params = self.render(message)
        if not ({"body", "media_url", "content_sid"} & params.keys()):
            raise PermanentSendError("the reply has no text, image or template")
        try:
            return SentMessage(sid=await self._create(params), template=message.template)
        except _OutsideWindow as exc:
            if message.template:
                raise PermanentSendError(f"{exc} (the template itself)") from exc
            if self._template is None:
                raise PermanentSendError(f"{exc} (and no template is configured to send "
                                         "instead: PARLEY_WHATSAPP_TEMPLATE_SID)") from exc
            template = message_params(msgspec.structs.replace(message, template=self._template),
                                      from_number=self._from,
                                      status_callback=self._status_callback)
            _log.info("%s; sending template %s instead", exc, self._template)
            return SentMessage(sid=await self._create(template), template=self._template)

    async def _create(self, params: dict[str, object]) -> str:
        if self._client is None:
            raise PermanentSendError("no Twilio client: the adapter was built to receive only")
        RETRY_AFTER.set(None)
        try:
            created = await self._client.messages.create_async(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _refusal(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # a 2xx whose body is not JSON: it may have been sent
            raise PermanentSendError("Twilio's answer could not be read") from exc
        return str(created.sid)


class _OutsideWindow(PermanentSendError):
    pass


def _refusal(exc: TwilioRestException | TwilioServiceException) -> SendError:
    status, code = int(exc.status), exc.code
    words = exc.title if isinstance(exc, TwilioServiceException) else exc.msg
    reason = f"Twilio answered {status}, error {code}: {words}"
    if code == OUTSIDE_WINDOW:
        return _OutsideWindow(reason)
    if status == 429 or status >= 500:
        return TransientSendError(reason, RETRY_AFTER.get())
    return PermanentSendError(reason)


def _kind(form: MultiDict[str]) -> str:
    if "MessageStatus" in form:
        return "a status callback sent to the message webhook"
    if not form.get("From", "").startswith("whatsapp:"):
        return "not a WhatsApp message"
    return "message"


def _number(form: MultiDict[str], name: str, *, strict: bool = True) -> str:
    found = _NUMBER.fullmatch(form.get(name, ""))
    if found is not None:
        return found.group(1)
    if strict:
        raise BadRequest(f"{name} must be a whatsapp:+<number> address")
    return ""


def _attachments(form: MultiDict[str]) -> tuple[Attachment, ...]:
    raw = form.get("NumMedia", "0") or "0"
    if _MEDIA_COUNT.fullmatch(raw) is None:
        raise BadRequest("NumMedia must be a whole number below 1000")
    count = min(int(raw), MAX_MEDIA)
    found = []
    for n in range(count):
        url = form.get(f"MediaUrl{n}")
        if not url:
            raise BadRequest(f"NumMedia is {raw} but MediaUrl{n} is missing")
        found.append(Attachment(url=url, content_type=form.get(f"MediaContentType{n}", "")))
    return tuple(found)
