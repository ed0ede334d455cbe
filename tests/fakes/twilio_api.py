"""A fake of Twilio's Messages API on 127.0.0.1, with Twilio's status callbacks.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` checks HTTP Basic auth like Twilio
(401 with error 20003 otherwise), that ``To``/``From`` are ``whatsapp:`` addresses (the
``From`` the business's number) and that ``Body``, ``ContentSid`` or ``MediaUrl`` is given,
and answers 201 with a message resource. It records every attempt, can be told to answer
the next calls with an error (429 with ``Retry-After``, 5xx, 400 with a Twilio code), and
after accepting a message it POSTs the scripted status callbacks to the message's
``StatusCallback``, signed as Twilio signs them (over that public URL) but delivered to
``callback_target`` — as a proxy in front of the gateway would.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.threaded_server import ThreadedServer, wait_for_count

MESSAGES = "/2010-04-01/Accounts/{sid}/Messages.json"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"  # as in the recorded payloads
BUSINESS = "+14155238886"
PERSON = "+15005550006"
_ERRORS = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21619: "A text message body or media urls must be specified.",
    63007: "Twilio could not find a Channel with the specified From address",
    63016: "Failed to send freeform message because you are outside the allowed window. "
           "If you are using WhatsApp, please use a Message Template.",
}


@dataclass(frozen=True)
class Failure:
    """An answer to give instead of 201 (``status`` > 0), or a delivery failure reported
    through the status callback after a 201 (``status`` == 0)."""

    status: int
    code: int
    retry_after: str | None = None


def recorded(name: str, **changes: str) -> bytes:
    """The recorded form body ``tests/fixtures/whatsapp/<name>.txt``, fields changed."""
    pairs = parse_qsl((FIXTURES / f"{name}.txt").read_text(), keep_blank_values=True)
    fields = dict(pairs)
    if "MessageSid" in changes:  # Twilio repeats the SID under its older names
        for alias in ("SmsMessageSid", "SmsSid"):
            if alias in fields:
                changes.setdefault(alias, changes["MessageSid"])
    fields.update(changes)
    return urlencode(fields).encode()


def error_body(status: int, code: int) -> dict[str, Any]:
    """Twilio's error JSON (the shape the SDK reads into ``TwilioRestException``)."""
    return {"code": code, "message": _ERRORS.get(code, "Error"),
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


class TwilioApiFake(ThreadedServer):
    def __init__(self, account_sid: str, auth_token: str, business: str) -> None:
        self.account_sid, self.auth_token, self.business = account_sid, auth_token, business
        self.messages: list[dict[str, Any]] = []   # accepted: form fields and "Sid"
        self.arrivals: list[float] = []            # monotonic time of every attempt
        self.answers: list[int] = []               # HTTP status given to every attempt
        self.failures: deque[Failure] = deque()    # for the next attempts, in order
        self.statuses: tuple[str, ...] = ()        # callbacks after each accepted message
        self.callback_repeats = 1                  # Twilio may send a callback more than once
        self.callback_target = ""                  # base URL callbacks are delivered to
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # (status, fields, answer)
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        app = web.Application()
        app.router.add_post(MESSAGES.format(sid="{sid}"), self._create)
        app.cleanup_ctx.append(self._client_session)
        super().__init__(app)

    def fail_next(self, status: int, code: int, *, retry_after: str | None = None,
                  count: int = 1) -> None:
        self.failures.extend([Failure(status, code, retry_after)] * count)

    def fail_delivery_next(self, code: int, count: int = 1) -> None:
        """Accept the next messages, then report them ``failed`` with ``code``."""
        self.failures.extend([Failure(0, code)] * count)

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        wait_for_count(lambda: self.messages, count, timeout)
        with self._lock:
            return list(self.messages)

    async def _client_session(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        await self._session.close()

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            self.arrivals.append(time.monotonic())
            failure = self.failures.popleft() if self.failures else None
        response = self._refusal(request, form) or self._scripted(failure)
        if response is not None:
            with self._lock:
                self.answers.append(response.status)
            return response
        fields: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "MediaUrl"}
        fields["MediaUrl"] = [str(v) for v in form.getall("MediaUrl", [])]
        fields["Sid"] = "SM" + secrets.token_hex(16)
        with self._lock:
            self.answers.append(201)
            self.messages.append(fields)
        self._report(fields, failure)
        return web.json_response(self._resource(fields), status=201)

    def _refusal(self, request: web.Request, form: Any) -> web.Response | None:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token)
        given = request.headers.get("Authorization", "")
        if given != expected or request.match_info["sid"] != self.account_sid:
            return web.json_response(error_body(401, 20003), status=401)
        to, sender = str(form.get("To", "")), str(form.get("From", ""))
        if not to.startswith("whatsapp:+"):
            return web.json_response(error_body(400, 21211), status=400)
        if sender != f"whatsapp:{self.business}":
            return web.json_response(error_body(400, 63007), status=400)
        if not (form.get("Body") or form.get("ContentSid") or form.get("MediaUrl")):
            return web.json_response(error_body(400, 21619), status=400)
        if len(str(form.get("Body", ""))) > 1600:
            return web.json_response(error_body(400, 21617), status=400)
        return None

    @staticmethod
    def _scripted(failure: Failure | None) -> web.Response | None:
        if failure is None or failure.status == 0:
            return None
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
        return web.json_response(error_body(failure.status, failure.code),
                                 status=failure.status, headers=headers)

    def _resource(self, fields: dict[str, Any]) -> dict[str, Any]:
        sid, now = fields["Sid"], formatdate(usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {"account_sid": self.account_sid, "api_version": "2010-04-01",
                "body": fields.get("Body", ""), "date_created": now, "date_sent": None,
                "date_updated": now, "direction": "outbound-api", "error_code": None,
                "error_message": None, "from": fields["From"], "messaging_service_sid": None,
                "num_media": str(len(fields["MediaUrl"])), "num_segments": "1", "price": None,
                "price_unit": None, "sid": sid, "status": "queued",
                "subresource_uris": {"media": f"{uri}/Media.json"}, "to": fields["To"],
                "uri": f"{uri}.json"}

    def _report(self, fields: dict[str, Any], failure: Failure | None) -> None:
        url = fields.get("StatusCallback")
        if not url or not self.callback_target:
            return
        steps = [("failed", failure.code)] if failure else [(s, None) for s in self.statuses]
        task = asyncio.get_running_loop().create_task(self._post_callbacks(url, fields, steps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_callbacks(self, url: str, fields: dict[str, Any],
                              steps: list[tuple[str, int | None]]) -> None:
        for status, code in steps:
            await asyncio.sleep(0.05)
            params = {"ChannelPrefix": "whatsapp", "ApiVersion": "2010-04-01",
                      "MessageStatus": status, "SmsSid": fields["Sid"], "SmsStatus": status,
                      "ChannelToAddress": fields["To"].removeprefix("whatsapp:"),
                      "To": fields["To"], "From": fields["From"],
                      "MessageSid": fields["Sid"], "AccountSid": self.account_sid,
                      "StructuredMessage": "false",
                      "ChannelInstallSid": "XE" + "0" * 32}
            if code is not None:
                params["ErrorCode"] = str(code)
            for _ in range(self.callback_repeats):
                await self.post_signed(url, params, label=status)

    async def post_signed(self, url: str, params: dict[str, str], label: str = "") -> int:
        """POST ``params`` signed for the public ``url`` to the same path at the target."""
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        target = self.callback_target + urlsplit(url).path
        async with self._session.post(target, data=params,
                                      headers={"X-Twilio-Signature": signature}) as answer:
            await answer.read()
            with self._lock:
                self.callbacks.append((label, params, answer.status))
            return answer.status
