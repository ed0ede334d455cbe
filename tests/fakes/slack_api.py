"""A fake of Slack's Web API on 127.0.0.1 (``auth.test``, ``chat.postMessage``).

It answers like Slack: HTTP 200 with ``{"ok": false, "error": …}`` for a missing or unknown
token (``not_authed`` / ``invalid_auth``), an unknown channel (``channel_not_found``), no
text (``no_text``) or malformed blocks (``invalid_blocks``); HTTP 429 with ``Retry-After``
and ``{"ok": false, "error": "ratelimited"}`` when scripted to, or a 5xx HTML page. Every
call is recorded with its arrival time (monotonic), including the refused ones.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer, wait_for_count

BLOCK_TYPES = {"section", "actions", "image", "context", "divider", "header", "rich_text"}


@dataclass(frozen=True)
class FakeBot:
    """The bot user behind one token, as ``auth.test`` describes it."""

    team_id: str
    user_id: str = "U0BOT0001"
    bot_id: str = "B0BOT0001"
    team: str = "Parley Demo"


@dataclass
class Call:
    method: str
    token: str | None
    body: dict[str, Any]
    arrival: float
    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlackApi(ThreadedServer):
    def __init__(self, bots: dict[str, FakeBot], channels: set[str] | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        super().__init__(app)
        self.bots = bots                    # token → bot
        self.channels = channels            # None: every channel exists
        self.calls: list[Call] = []
        # (method, status, Retry-After seconds or None) for the next calls of that method
        self.failures: deque[tuple[str, int, float | None]] = deque()
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None,
                  method: str = "chat.postMessage") -> None:
        """Answer the next ``count`` calls of ``method`` with ``status`` (429: with
        ``Retry-After`` and Slack's ``ratelimited`` body; 5xx: an HTML error page; 0: drop
        the connection without answering)."""
        with self._lock:
            self.failures.extend([(method, status, retry_after)] * count)

    def count(self, method: str) -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.method == method)

    def posts(self) -> list[Call]:
        """The chat.postMessage calls Slack accepted (the messages people would see)."""
        with self._lock:
            return [c for c in self.calls if c.method == "chat.postMessage" and c.status == 200
                    and c.error is None]

    def attempts(self, method: str = "chat.postMessage") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for_posts(self, count: int, timeout: float) -> list[Call]:
        wait_for_count(self.posts, count, timeout)
        return self.posts()

    async def _handle(self, request: web.Request) -> web.Response:
        arrival = time.monotonic()
        method = request.match_info["method"]
        body = await _body(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else body.get("token")
        call = Call(method, token, body, arrival, headers=dict(request.headers))
        with self._lock:
            self.calls.append(call)
            scripted = self.failures.popleft() if (
                self.failures and self.failures[0][0] == method) else None
        if scripted is not None:
            call.status = scripted[1]
            if scripted[1] == 0:  # the connection drops without an answer
                assert request.transport is not None
                request.transport.close()
            return _failure(scripted[1], scripted[2])
        answer = self._answer(method, token, body)
        call.error = None if answer.get("ok") else str(answer.get("error"))
        return web.json_response(answer)

    def _answer(self, method: str, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if not token:
            return {"ok": False, "error": "not_authed"}
        bot = self.bots.get(token)
        if bot is None:
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "url": "https://parley-demo.slack.com/", "team": bot.team,
                    "user": "parley", "team_id": bot.team_id, "user_id": bot.user_id,
                    "bot_id": bot.bot_id, "is_enterprise_install": False}
        if method == "chat.postMessage":
            return self._post_message(bot, body)
        return {"ok": False, "error": "unknown_method"}

    def _post_message(self, bot: FakeBot, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel or (self.channels is not None and channel not in self.channels):
            return {"ok": False, "error": "channel_not_found"}
        blocks = body.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not body.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and (problem := block_problem(blocks)):
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        ts = f"{1718100000 + next(self._ts)}.000100"
        message = {"type": "message", "text": body.get("text", ""), "user": bot.user_id,
                   "bot_id": bot.bot_id, "ts": ts, "team": bot.team_id}
        if blocks:
            message["blocks"] = blocks
        if body.get("thread_ts"):
            message["thread_ts"] = body["thread_ts"]
        return {"ok": True, "channel": channel, "ts": ts, "message": message}


def block_problem(blocks: Any) -> str | None:
    """What Slack would refuse in ``blocks`` (the subset Parley sends), or None."""
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return "blocks must be a list of 1 to 50 blocks"
    action_ids: set[str] = set()
    for number, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return f"block {number}: unknown type"
        kind = block["type"]
        if kind == "section" and not _text_ok(block.get("text"), 3000, ("mrkdwn", "plain_text")):
            return f"block {number}: section text must be 1 to 3000 characters"
        if kind == "image" and not (_str_ok(block.get("image_url"), 3000)
                                    and _str_ok(block.get("alt_text"), 2000)):
            return f"block {number}: image needs image_url and alt_text"
        if kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                return f"block {number}: actions need 1 to 25 elements"
            for element in elements:
                problem = _button_problem(element, action_ids)
                if problem:
                    return f"block {number}: {problem}"
    return None


def _button_problem(element: Any, action_ids: set[str]) -> str | None:
    if not isinstance(element, dict) or element.get("type") != "button":
        return "only buttons are expected"
    if not _text_ok(element.get("text"), 75, ("plain_text",)):
        return "button text must be plain_text of 1 to 75 characters"
    value = element.get("value")
    if value is not None and not _str_ok(value, 2000):
        return "button value must be 1 to 2000 characters"
    action_id = element.get("action_id")
    if action_id is not None:
        if not _str_ok(action_id, 255) or action_id in action_ids:
            return "action_id must be unique and at most 255 characters"
        action_ids.add(action_id)
    return None


def _text_ok(text: Any, limit: int, kinds: tuple[str, ...]) -> bool:
    return isinstance(text, dict) and text.get("type") in kinds and _str_ok(text.get("text"),
                                                                          limit)


def _str_ok(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= limit


def _failure(status: int, retry_after: float | None) -> web.Response:
    if status == 429:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                 headers=headers)
    return web.Response(status=status, content_type="text/html",
                        text="<html><body>Slack is having trouble</body></html>")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if request.content_type == "application/json":
        data = json.loads(raw or b"{}")
        return data if isinstance(data, dict) else {}
    return dict(parse_qsl(raw.decode(), keep_blank_values=True)) | dict(request.query)
