"""No request a client can make is a 500: each one an external fuzzer found, replayed
against the whole gateway app (aiohttp's test server, Slack, Telegram and WhatsApp set up
against the fake platform servers, a real Redis), answered with its 4xx and a JSON error;
405s carry ``Allow``; strangers are refused from their headers before their body is read;
and the log gets one line per client a minute, not a traceback per request."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from channels import slack, web, whatsapp
from gateway import request_errors
from gateway.app import create_app
from gateway.app_keys import REDIS
from gateway.settings import GatewaySettings
from tests.conftest import FIXTURES
from tests.fakes.all_platforms import (
    PUBLIC,
    SLACK_SECRET,
    TEAM,
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    WEB_SECRET,
    WEB_TOKEN,
    all_platforms,
)
from tests.fakes.telegram_api import BOT_ID
from tests.fakes.twilio_api import recorded
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401
from workers.bus import conversation_key

Scenario = Callable[[TestClient], Awaitable[Any]]


@pytest.fixture(scope="module")
def platforms() -> Iterator[dict[str, str]]:
    with all_platforms() as fakes:
        yield {"PARLEY_REDIS_URL": REDIS_URL, **fakes.env}


@pytest.fixture(autouse=True)
def fresh_log_throttles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no client or bug logged this minute."""
    monkeypatch.setattr(request_errors, "_CLIENTS", request_errors.Throttle())
    monkeypatch.setattr(request_errors, "_BUGS", request_errors.Throttle())


def serve(platforms: dict[str, str], scenario: Scenario) -> Any:
    async def main() -> Any:
        app = create_app(GatewaySettings.from_env(platforms))
        try:
            async with TestClient(TestServer(app)) as client:
                return await scenario(client)
        finally:
            # The app's clean-up closes its Redis client but not the pool it was given
            # (redis-py's aclose() leaves a passed pool open): its sockets would outlive
            # this loop and warn. (Reported; gateway/app.py is not this test's to fix.)
            await app[REDIS].connection_pool.aclose()

    return asyncio.run(main())


# -- requests as each platform signs them ----------------------------------------------------

def web_signed(body: bytes, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    return {web.TIMESTAMP_HEADER: stamp, web.SIGNATURE_HEADER: web.sign(WEB_SECRET, stamp, body)}


def slack_signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack.sign(SLACK_SECRET, stamp, body)}


def twilio_signed(path: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": whatsapp.sign(TWILIO_TOKEN, PUBLIC + path, body)}


def telegram_signed() -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
            "Content-Type": "application/json"}


def slack_event(**changes: Any) -> dict[str, Any]:
    body = json.loads((FIXTURES / "slack" / "message_im.json").read_text())
    body["event_id"] = f"Ev{time.monotonic_ns()}"
    body.update(changes)
    return body


def slack_click(**changes: Any) -> bytes:
    body = json.loads((FIXTURES / "slack" / "block_actions.json").read_text())
    body.update(changes)
    return ("payload=" + quote(json.dumps(body))).encode()


def telegram_update(**message: Any) -> bytes:
    body = json.loads((FIXTURES / "telegram" / "private_text.json").read_text())
    body["message"].update(message)
    return json.dumps(body).encode()


WEB_OK = json.dumps({"conversation_id": "c1", "user_id": "u1", "message_id": "m1",
                     "text": "hi"}).encode()
DEEP = b"[" * 20_000 + b"]" * 20_000  # within the 64 KiB limit, past any parser's stack
SPLIT = [{"type": "bot_command", "offset": 0, "length": 1}]  # inside the 😀 below

# (name, path, headers, body, status): every one of them a 500 before.
def _cases() -> list[tuple[str, str, dict[str, str], bytes, int]]:
    """Signed when the test runs, not at import: the whole suite takes longer than the
    replay window, and a stale timestamp is refused (401) before anything is parsed."""
    return [
        ("web timestamp ²", "/channels/web/messages",
         {web.TIMESTAMP_HEADER: "²", web.SIGNATURE_HEADER: "v1=" + "0" * 64}, WEB_OK, 401),
        ("web timestamp of 5000 digits", "/channels/web/messages",
         {web.TIMESTAMP_HEADER: "1" * 5000, web.SIGNATURE_HEADER: "v1=" + "0" * 64}, WEB_OK, 401),
        ("web signature not ASCII", "/channels/web/messages",
         {web.TIMESTAMP_HEADER: str(int(time.time())), web.SIGNATURE_HEADER: "v1=" + "é" * 64},
         WEB_OK, 401),
        ("slack timestamp ²", "/channels/slack/events",
         {"X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=00"}, b"{}", 401),
        ("slack timestamp of 5000 digits", "/channels/slack/events",
         {"X-Slack-Request-Timestamp": "1" * 5000, "X-Slack-Signature": "v0=00"}, b"{}", 401),
        ("web nested too deeply", "/channels/web/messages", web_signed(DEEP), DEEP, 400),
        ("slack nested too deeply", "/channels/slack/events", slack_signed(DEEP), DEEP, 400),
        ("telegram nested too deeply", "/channels/telegram", telegram_signed(), DEEP, 400),
        ("slack charset nope-42", "/channels/slack/events",
         slack_signed(b'{"type": "url_verification", "challenge": "c"}',
                      "application/json; charset=nope-42"),
         b'{"type": "url_verification", "challenge": "c"}', 200),
        ("slack event as a list", "/channels/slack/events",
         slack_signed(b := json.dumps(slack_event(event=[])).encode()), b, 400),
        ("slack type as a list", "/channels/slack/events",
         slack_signed(b := json.dumps(slack_event(type=["event_callback"])).encode()), b, 400),
        ("slack subtype as a list", "/channels/slack/events", slack_signed(b := json.dumps(
            slack_event(event={"type": "message", "subtype": [], "channel": "D1"})).encode()),
         b, 400),
        ("slack team_id a number", "/channels/slack/events",
         slack_signed(b := json.dumps(slack_event(team_id=5)).encode()), b, 400),
        ("slack click without actions", "/channels/slack/interactions",
         slack_signed(b := slack_click(actions=[]), "application/x-www-form-urlencoded"), b, 200),
        ("slack click with a number for an action", "/channels/slack/interactions",
         slack_signed(b := slack_click(actions=[1]), "application/x-www-form-urlencoded"), b, 400),
        ("slack click with a number for its message", "/channels/slack/interactions",
         slack_signed(b := slack_click(message=3), "application/x-www-form-urlencoded"), b, 400),
        ("telegram text 5", "/channels/telegram", telegram_signed(), telegram_update(text=5), 400),
        ("telegram date out of range", "/channels/telegram", telegram_signed(),
         telegram_update(date=10**20), 400),
        ("telegram entity inside a surrogate pair", "/channels/telegram", telegram_signed(),
         telegram_update(text="😀/start", entities=SPLIT), 200),
        ("whatsapp NumMedia ²", "/channels/whatsapp",
         twilio_signed("/channels/whatsapp", b := recorded("media_message", NumMedia="²")), b, 400),
        ("whatsapp ErrorCode ²", "/channels/whatsapp/status", twilio_signed(
            "/channels/whatsapp/status", b := recorded("status_failed_63016", ErrorCode="²")),
         b, 400),
    ]


def test_each_request_that_was_a_500_gets_its_answer(
        platforms: dict[str, str], clean_redis: redis.Redis, subtests: pytest.Subtests) -> None:
    cases = _cases()

    async def scenario(client: TestClient) -> list[tuple[int, str, str]]:
        answers = []
        for _, path, headers, body, _ in cases:
            response = await client.post(path, data=body, headers=headers)
            answers.append((response.status, response.content_type, await response.text()))
        return answers

    for (name, _, _, _, status), (answered, content_type, text) in zip(
            cases, serve(platforms, scenario), strict=True):
        with subtests.test(msg=name):
            assert answered == status, text
            if status >= 400:
                assert content_type == "application/json" and "error" in json.loads(text)


def test_a_lone_surrogate_is_stored_replaced_not_a_500(platforms: dict[str, str],
                                                      clean_redis: redis.Redis) -> None:
    event = json.dumps(slack_event()).replace('"hello"', '"hello \\ud800"').encode()
    update = telegram_update(text="open \\ud800?").replace(b"\\\\ud800", b"\\ud800")

    async def scenario(client: TestClient) -> list[int]:
        answers = [await client.post("/channels/slack/events", data=event,
                                     headers=slack_signed(event)),
                   await client.post("/channels/telegram", data=update,
                                     headers=telegram_signed())]
        return [r.status for r in answers]

    assert serve(platforms, scenario) == [200, 200]
    assert clean_redis.get(conversation_key(f"slack:{TEAM}:D0DM00001", "seq")) == b"1"
    assert clean_redis.get(conversation_key(f"telegram:{BOT_ID}:111111111", "seq")) == b"1"


def test_a_slack_event_callback_without_an_event_is_200_with_nothing_enqueued(
        platforms: dict[str, str], clean_redis: redis.Redis) -> None:
    body = json.dumps({k: v for k, v in slack_event().items() if k != "event"}).encode()

    async def scenario(client: TestClient) -> tuple[int, str]:
        response = await client.post("/channels/slack/events", data=body,
                                     headers=slack_signed(body))
        return response.status, await response.text()

    assert serve(platforms, scenario) == (200, "")  # 404 before: Slack redelivered it
    assert not clean_redis.keys("parley:conv:*") and not clean_redis.keys("parley:dedupe:*")


# -- 405 ----------------------------------------------------------------------------------

NOT_ALLOWED = [
    ("GET", "/channels/web/messages", {"POST"}), ("PUT", "/channels/slack/events", {"POST"}),
    ("GET", "/channels/slack/interactions", {"POST"}), ("GET", "/channels/telegram", {"POST"}),
    ("DELETE", "/channels/whatsapp", {"POST"}), ("GET", "/channels/whatsapp/status", {"POST"}),
    ("GET", "/channels/web/session", {"POST", "OPTIONS"}),
    ("GET", "/channels/web/send", {"POST", "OPTIONS"}), ("POST", "/healthz", {"GET", "HEAD"}),
    ("POST", "/openapi.json", {"GET", "HEAD"}), ("POST", "/channels/web/ws", {"GET", "HEAD"}),
]


def test_another_method_is_405_with_allow(platforms: dict[str, str], clean_redis: redis.Redis,
                                          subtests: pytest.Subtests) -> None:
    async def scenario(client: TestClient) -> list[tuple[int, str, Any]]:
        answers = []
        for method, path, _ in NOT_ALLOWED:
            response = await client.request(method, path)
            answers.append((response.status, response.headers.get("Allow", ""),
                            await response.json()))
        return answers

    for (method, path, allow), (status, allowed, body) in zip(
            NOT_ALLOWED, serve(platforms, scenario), strict=True):
        with subtests.test(msg=f"{method} {path}"):
            assert status == 405 and "error" in body
            assert {m.strip() for m in allowed.split(",")} == allow


# -- credentials before the body ----------------------------------------------------------

async def _raw(client: TestClient, head: bytes) -> bytes:
    """Send ``head`` (a request's line and headers, announcing a body never sent) and read
    the answer; the server must answer without waiting for the body."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), timeout=3)
    finally:
        writer.close()
        await writer.wait_closed()


STRANGERS = [
    ("/channels/telegram", b""),
    ("/channels/telegram", b"X-Telegram-Bot-Api-Secret-Token: wrong\r\n"),
    ("/channels/web/messages", b""),
    ("/channels/web/messages", b"Authorization: Bearer wrong\r\n"),
    ("/channels/web/messages", f"{web.TIMESTAMP_HEADER}: 1000\r\n{web.SIGNATURE_HEADER}: v1="
     f"{'0' * 64}\r\n".encode()),  # a signature of long ago
]


def test_a_stranger_is_refused_before_the_body_is_read(
        platforms: dict[str, str], clean_redis: redis.Redis, subtests: pytest.Subtests) -> None:
    def head(path: str, credentials: bytes) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json"
                "\r\nContent-Length: 60000\r\n").encode() + credentials + b"\r\n"

    async def scenario(client: TestClient) -> list[bytes]:
        return [await _raw(client, head(*stranger)) for stranger in STRANGERS]

    for (path, credentials), answer in zip(STRANGERS, serve(platforms, scenario), strict=True):
        with subtests.test(msg=f"{path} {credentials!r}"):
            assert answer.startswith(b"HTTP/1.1 401 "), answer  # not a 408 at the deadline
            assert b'{"error": ' in answer


def test_a_platform_with_credentials_is_read_as_before(platforms: dict[str, str],
                                                       clean_redis: redis.Redis) -> None:
    async def scenario(client: TestClient) -> list[int]:
        web_response = await client.post("/channels/web/messages", data=WEB_OK,
                                         headers={"Authorization": f"Bearer {WEB_TOKEN}"})
        telegram = await client.post("/channels/telegram", data=telegram_update(),
                                     headers=telegram_signed())
        return [web_response.status, telegram.status]

    assert serve(platforms, scenario) == [202, 200]


# -- the log: one line per client a minute ------------------------------------------------

def test_malformed_requests_are_one_line_per_client_a_minute(
        platforms: dict[str, str], clean_redis: redis.Redis,
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(client: TestClient) -> list[int]:
        statuses = []
        for _ in range(3):
            response = await client.post("/channels/telegram", data=DEEP,
                                         headers=telegram_signed())
            statuses.append(response.status)
        return statuses

    with caplog.at_level(logging.DEBUG):
        assert serve(platforms, scenario) == [400, 400, 400]
    lines = [r for r in caplog.records if r.name == "parley.gateway.requests"]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert lines[0].exc_info is None
    assert "POST /channels/telegram from 127.0.0.1" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_unparsable_http_is_one_line_per_client_without_a_traceback(
        platforms: dict[str, str], clean_redis: redis.Redis,
        caplog: pytest.LogCaptureFixture) -> None:
    bad = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nBad Header\r\n\r\n"
    tls = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"  # HTTPS on the HTTP port

    async def scenario(client: TestClient) -> list[bytes]:
        return [await _raw(client, bad), await _raw(client, bad), await _raw(client, tls)]

    with caplog.at_level(logging.DEBUG, "aiohttp.server"):
        answers = serve(platforms, scenario)
    assert all(answer.startswith(b"HTTP/1.0 400 ") for answer in answers)
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert all(r.exc_info is None and r.levelno <= logging.WARNING for r in server)
    warnings = [r for r in server if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the second one within the minute is held back
    assert "Invalid header token" in warnings[0].getMessage()


def test_an_exception_a_channel_did_not_foresee_is_a_400_its_traceback_logged_once(
        platforms: dict[str, str], clean_redis: redis.Redis,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def unforeseen(*args: object) -> None:
        raise KeyError("a shape the parser did not expect")

    monkeypatch.setitem(__import__("channels.telegram.parse", fromlist=["_"])._HANDLERS,
                        "message", (dict, unforeseen))

    async def scenario(client: TestClient) -> list[tuple[int, Any]]:
        answers = []
        for _ in range(2):
            response = await client.post("/channels/telegram", data=telegram_update(),
                                         headers=telegram_signed())
            answers.append((response.status, await response.json()))
        return answers

    assert serve(platforms, scenario) == [(400, {"error": "malformed request"})] * 2
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and tracebacks[0].levelno == logging.ERROR
    assert "KeyError" in tracebacks[0].getMessage()
    assert "/channels/telegram" in tracebacks[0].getMessage()


def test_an_exception_outside_the_channels_is_ours_a_500_in_json(
        platforms: dict[str, str], clean_redis: redis.Redis,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from gateway.telegram import routes as telegram_routes

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug of the gateway's")

    monkeypatch.setattr(telegram_routes.TelegramAdapter, "webhook_answer", staticmethod(broken))

    async def scenario(client: TestClient) -> tuple[int, Any]:
        response: ClientResponse = await client.post("/channels/telegram",
                                                     data=telegram_update(),
                                                     headers=telegram_signed())
        return response.status, await response.json()

    assert serve(platforms, scenario) == (500, {"error": "internal error"})
    assert [r.exc_info is not None for r in caplog.records if "ZeroDivision" in r.getMessage()
            ] == [True]
