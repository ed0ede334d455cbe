"""A fake Telegram Bot API on 127.0.0.1: ``/bot<token>/<method>`` as Telegram serves it.

It checks what Telegram checks and answers as Telegram does (``{"ok": false, "error_code",
"description"}``): a wrong token is 401 Unauthorized; ``sendMessage`` text and ``sendPhoto``
captions are parsed as HTML when ``parse_mode=HTML`` (an unknown tag or an unescaped ``<`` /
``&`` is 400 "can't parse entities"; the fake refuses every bare ``&``, stricter than
Telegram, so a missing escape is caught), and measured after parsing in UTF-16 units (4096
for a text, 1024 for a caption); ``callback_data`` is 1–64 bytes; ``setWebhook`` wants an
HTTPS URL and a well-formed secret. Parameters come as a query string, a form, multipart
or JSON, like the real API accepts them.

Every call is recorded (method, parameters, arrival time, status). ``fail_next`` scripts the
next calls of the sending methods to fail: 429 with ``parameters.retry_after`` (Telegram's
way of advertising the delay) or a 5xx. ``answer_late`` scripts the next calls to be carried
out at once but answered only seconds later, as a slow Telegram does: a client that goes
away meanwhile never learns that its message was delivered.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, wait_for_count

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_ID = 123456789
USERNAME = "ParleyTestBot"
SENDING = ("sendMessage", "sendPhoto")
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
         "a", "code", "pre", "blockquote", "tg-emoji"}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
_TAG = re.compile(r"<(/?)([a-z-]+)(\s[^<>]*)?>")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ApiError(Exception):
    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int = 200


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    methods: tuple[str, ...]


@dataclass
class FakeTelegramApi:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    blocked: set[int] = field(default_factory=set)  # chats whose user blocked the bot

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._late: deque[tuple[float, tuple[str, ...]]] = deque()
        self._message_ids = 0
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.server = ThreadedServer(app)

    @property
    def api_url(self) -> str:
        """What ``PARLEY_TELEGRAM_API_URL`` must be for a client to reach this fake."""
        return self.server.url + "/bot"

    def __enter__(self) -> FakeTelegramApi:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def fail_next(self, count: int = 1, *, status: int = 429, retry_after: int | None = None,
                  methods: tuple[str, ...] = SENDING, after: int = 0) -> None:
        """After ``after`` more calls of ``methods`` succeed, the next ``count`` fail with
        ``status`` (429: with ``retry_after`` seconds advertised, as Telegram does)."""
        with self._lock:
            self._failures.extend(_Failure(200, None, methods) for _ in range(after))
            self._failures.extend(_Failure(status, retry_after, methods) for _ in range(count))

    def answer_late(self, seconds: float, count: int = 1, *,
                    methods: tuple[str, ...] = SENDING) -> None:
        """The next ``count`` calls of ``methods`` are carried out (and recorded) on arrival
        but answered ``seconds`` later."""
        with self._lock:
            self._late.extend((seconds, methods) for _ in range(count))

    def calls_of(self, *methods: str, ok: bool | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method in methods
                    and (ok is None or (c.status == 200) == ok)]

    def sent(self) -> list[Call]:
        """The messages and photos Telegram accepted, in order."""
        return self.calls_of(*SENDING, ok=True)

    def wait_for_sent(self, count: int, timeout: float) -> list[Call]:
        wait_for_count(self.sent, count, timeout)
        return self.sent()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(method, await _params(request), time.monotonic())
        with self._lock:
            self.calls.append(call)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = _METHODS.get(method)
            if handler is None:
                raise ApiError(404, "Not Found")
            self._scripted_failure(method)
            result = handler(self, call.params)
        except ApiError as exc:
            call.status = exc.status
            return web.json_response(exc.body(), status=exc.status)
        await asyncio.sleep(self._lateness(method))
        return web.json_response({"ok": True, "result": result})

    def _lateness(self, method: str) -> float:
        with self._lock:
            if not self._late or method not in self._late[0][1]:
                return 0.0
            return self._late.popleft()[0]

    def _scripted_failure(self, method: str) -> None:
        with self._lock:
            if not self._failures or method not in self._failures[0].methods:
                return
            failure = self._failures.popleft()
        if failure.status == 200:
            return
        if failure.status == 429:
            after = failure.retry_after or 1
            raise ApiError(429, f"Too Many Requests: retry after {after}", retry_after=after)
        raise ApiError(failure.status, "Internal Server Error" if failure.status == 500
                       else "Bad Gateway")

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat = _chat_id_of(params)
        if chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return _bot_user()

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_id(params)
        text = str(params.get("text", ""))
        plain = _entities_parsed(text, params.get("parse_mode"))
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16(plain) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        _check_markup(params.get("reply_markup"))
        return self._message(chat, params, text=plain)

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_id(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = _entities_parsed(str(params.get("caption", "")), params.get("parse_mode"))
        if _utf16(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        _check_markup(params.get("reply_markup"))
        extra = {"caption": caption} if caption else {}
        return self._message(chat, params, photo=[{"file_id": "AgAD" + str(len(photo)),
                                                   "file_unique_id": "AQAD", "width": 800,
                                                   "height": 600}], **extra)

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                                "webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        updates = params.get("allowed_updates")
        self.webhook = {"url": url, "secret_token": secret,
                        "allowed_updates": _json(updates) if updates is not None else None}
        return True

    def _message(self, chat: int, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        with self._lock:
            self._message_ids += 1
            message_id = self._message_ids
        kind = {"type": "private", "first_name": "Ada"} if chat > 0 else {
            "type": "supergroup", "title": "Parley testers"}
        message = {"message_id": message_id, "date": int(time.time()),
                   "from": _bot_user(), "chat": {"id": chat, **kind}, **content}
        if params.get("reply_markup"):
            message["reply_markup"] = _json(params["reply_markup"])
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        return message


_METHODS = {"getMe": FakeTelegramApi._get_me, "sendMessage": FakeTelegramApi._send_message,
            "sendPhoto": FakeTelegramApi._send_photo,
            "answerCallbackQuery": FakeTelegramApi._answer_callback_query,
            "setWebhook": FakeTelegramApi._set_webhook}


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Parley Test", "username": USERNAME,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.method == "POST":
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return params


def _json(value: Any) -> Any:
    """A structured parameter: JSON-serialised in a form, or already structured in JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
    return value


def _chat_id_of(params: dict[str, Any]) -> int:
    raw = params.get("chat_id")
    if raw in (None, ""):
        raise ApiError(400, "Bad Request: chat_id is empty")
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "Bad Request: chat not found") from None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities_parsed(text: str, parse_mode: Any) -> str:
    """The text a client shows: for HTML, tags checked and removed, entities decoded."""
    if parse_mode in (None, ""):
        return text
    if parse_mode != "HTML":
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r} in this fake")
    open_tags: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported HTML "
                                    f"entity at byte offset {_bytes(text, i)}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == "<":
            match = _TAG.match(text, i)
            if match is None or match.group(2) not in _TAGS:
                name = match.group(2) if match else text[i + 1:i + 8]
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start "
                                    f"tag \"{name}\" at byte offset {_bytes(text, i)}")
            if match.group(1):
                if not open_tags or open_tags.pop() != match.group(2):
                    raise ApiError(400, "Bad Request: can't parse entities: Unexpected end "
                                        f"tag at byte offset {_bytes(text, i)}")
            else:
                open_tags.append(match.group(2))
            i = match.end()
        else:
            out.append(char)
            i += 1
    if open_tags:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag "
                            f"corresponding to start tag \"{open_tags[-1]}\"")
    return "".join(out)


def _bytes(text: str, index: int) -> int:
    return len(text[:index].encode())


def _check_markup(value: Any) -> None:
    if value in (None, ""):
        return
    markup = _json(value)
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup "
                            "must be an Array of Arrays")
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons "
                                "are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
