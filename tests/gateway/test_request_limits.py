"""Slow and oversized requests against the real gateway application (aiohttp's TestServer,
real Redis) and, for the header deadline under ``run_app``, the real ``parley gateway``.

The clients speak raw HTTP over a socket, so that they can send a byte a second, or only
the headers of a body they never send.

Time bounds: the deadlines are seconds long and every bound allows a further
``MARGIN`` (8 s) on top of the deadline, for a loaded 2-core machine; a reverted feature
fails them by far (without it, a trickling client is held as long as it trickles: the
clients give up after ``GIVE_UP`` s, and a bodyless request over the limit is answered
never).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestServer

from channels.web.adapter import sign
from gateway.app import create_app
from gateway.limit_settings import LimitSettings
from gateway.settings import GatewaySettings
from tests.processes import REDIS_URL, GatewayProcess, clean_redis, redis_client  # noqa: F401

SECRET = "request-limits-secret"
BODY_DEADLINE = 3.0
HEADER_DEADLINE = 3.0
LINGER = 10.0  # aiohttp's lingering close after an answer whose body was not read
MARGIN = 8.0
GIVE_UP = 30.0
MAX_BODY = 4096


def _settings() -> GatewaySettings:
    return GatewaySettings(redis_url=REDIS_URL, web_secret=SECRET, max_body_bytes=MAX_BODY,
                           limits=LimitSettings(header_timeout_seconds=HEADER_DEADLINE,
                                                body_timeout_seconds=BODY_DEADLINE))


@contextlib.asynccontextmanager
async def _gateway() -> AsyncIterator[TestServer]:
    async with TestServer(create_app(_settings()), host="127.0.0.1") as server:
        yield server


def _client() -> aiohttp.ClientSession:
    """A client whose requests fail after a minute rather than aiohttp's five (which is
    also the test's own timeout: a hung request would hide where it hung)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))


def _run(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(scenario())


class Trickle:
    """A raw HTTP client: ``head`` at once, then ``body`` one byte a second, while it
    listens; when the first answer bytes and the connection's end came, from its start."""

    def __init__(self, port: int, head: bytes, body: bytes = b"") -> None:
        self.port, self.head, self.body = port, head, body
        self.answered_at: float | None = None
        self.closed_at: float | None = None
        self.answer = b""

    async def run(self, every: float = 1.0, trickle_head: bool = False) -> Trickle:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        begun = time.monotonic()
        head, body = (b"", self.head + self.body) if trickle_head else (self.head, self.body)
        writer.write(head)
        sender = asyncio.create_task(self._send(writer, body, every))
        try:
            async with asyncio.timeout(GIVE_UP):
                while chunk := await reader.read(65536):
                    if self.answered_at is None:
                        self.answered_at = time.monotonic() - begun
                        sender.cancel()  # stop trickling once answered
                    self.answer += chunk
                self.closed_at = time.monotonic() - begun
        except TimeoutError:
            pass
        except ConnectionResetError:
            self.closed_at = time.monotonic() - begun
        finally:
            sender.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await sender
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        return self

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
        try:
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(every)
        except ConnectionError:
            pass

    @property
    def status(self) -> int | None:
        if not self.answer.startswith(b"HTTP/1.1 "):
            return None
        return int(self.answer[9:12])

    def json(self) -> Any:
        return json.loads(self.answer.split(b"\r\n\r\n", 1)[1])


def _post(path: str, length: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


async def _signed_message(http: aiohttp.ClientSession, base: str, n: int) -> str:
    """The status and the ingress outcome of a signed webhook message."""
    body = json.dumps({"conversation_id": f"fast-{uuid.uuid4().hex}", "user_id": "u",
                       "message_id": f"m{n}", "text": "hi"}).encode()
    stamp = str(int(time.time()))
    async with http.post(f"{base}/channels/web/messages", data=body, headers={
            "X-Parley-Timestamp": stamp, "X-Parley-Signature": sign(SECRET, stamp, body)}
            ) as response:
        return f"{response.status} {(await response.json()).get('status')}"


def _refused(metrics: str, reason: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'parley_requests_refused_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_bodies_sent_a_byte_a_second_are_cut_off_while_others_are_served(
        clean_redis: redis.Redis) -> None:
    """Four clients trickle 60-byte bodies (a minute's worth) to the browser chat's routes,
    which can only judge a request by its body; each gets 408 at the deadline and the
    connection ends after aiohttp's lingering close, while a fifth client's signed messages
    are accepted meanwhile (the handler reads the body the middleware read: its signature
    still verifies)."""
    async def scenario() -> tuple[list[Trickle], list[float], list[str], str]:
        async with _gateway() as server, _client() as http:
            base = str(server.make_url("")).rstrip("/")
            slow = [Trickle(server.port, _post(path, 60), b"x" * 60) for path in
                    ("/channels/web/session", "/channels/web/session",
                     "/channels/web/send", "/channels/web/poll")]
            runs = asyncio.gather(*(client.run() for client in slow))
            await asyncio.sleep(0.5)  # the slow ones are connected and trickling
            served_at, statuses = [], []
            begun = time.monotonic()
            for n in range(5):
                statuses.append(await _signed_message(http, base, n))
                async with http.get(f"{base}/healthz") as response:
                    statuses.append(str(response.status))
                served_at.append(time.monotonic() - begun)
            await runs
            async with http.get(f"{base}/metrics") as response:
                metrics = await response.text()
            return slow, served_at, statuses, metrics

    slow, served_at, statuses, metrics = _run(scenario)
    assert statuses == ["202 accepted", "200"] * 5
    for client in slow:
        assert client.status == 408, client.answer[:200]
        assert client.json()["reason"] == "body_timeout"
        assert b"Connection: close" in client.answer
        assert client.answered_at is not None and client.answered_at <= BODY_DEADLINE + MARGIN
        assert client.closed_at is not None
        assert client.closed_at <= BODY_DEADLINE + LINGER + MARGIN
    # The fast client was served while the slow ones were still waiting for their 408.
    assert max(served_at) < min(c.answered_at or GIVE_UP for c in slow) + 0.5
    assert _refused(metrics, "body_timeout") == 4


def test_headers_sent_a_byte_a_second_are_cut_off_at_the_header_deadline(
        clean_redis: redis.Redis) -> None:
    """A client sending its request line and headers a byte a second is disconnected,
    without an answer, once the header deadline passes (aiohttp's own default would hold
    it for an hour)."""
    async def scenario() -> Trickle:
        async with _gateway() as server:
            return await Trickle(server.port, _post("/channels/web/session", 2),
                                 b"{}").run(trickle_head=True)

    client = _run(scenario)
    assert client.answer == b""
    assert client.closed_at is not None and client.closed_at <= HEADER_DEADLINE + MARGIN


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(
        clean_redis: redis.Redis) -> None:
    """20 MiB declared, only the headers sent: 413 at once, not a wait for a body that
    never comes."""
    async def scenario() -> tuple[Trickle, str]:
        async with _gateway() as server, _client() as http:
            client = await Trickle(server.port, _post("/channels/web/session",
                                                      20 * 1024 * 1024)).run()
            async with http.get(str(server.make_url("/metrics"))) as response:
                return client, await response.text()

    client, metrics = _run(scenario)
    assert client.status == 413, client.answer[:200]
    assert client.json()["reason"] == "too_large"
    assert f"{MAX_BODY} bytes" in client.json()["error"]
    assert b"Connection: close" in client.answer
    assert client.answered_at is not None and client.answered_at <= MARGIN
    assert _refused(metrics, "too_large") == 1


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(
        clean_redis: redis.Redis) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    async def scenario() -> tuple[int, dict[str, str], str]:
        async with _gateway() as server, _client() as http:
            async with http.post(server.make_url("/channels/web/session"),
                                 data=chunks()) as response:
                status, body = response.status, await response.json()
            async with http.get(server.make_url("/metrics")) as response:
                return status, body, await response.text()

    status, body, metrics = _run(scenario)
    assert status == 413
    assert body["reason"] == "too_large"
    assert _refused(metrics, "too_large") == 1


def test_the_parley_gateway_process_cuts_slow_headers_and_bodies(
        clean_redis: redis.Redis, tmp_path: Path) -> None:
    """Under ``run_app`` (which sets its own 75 s keep-alive timeout) the header deadline
    is still PARLEY_HEADER_TIMEOUT_SECONDS, and bodies get PARLEY_BODY_TIMEOUT_SECONDS."""
    gateway = GatewayProcess(tmp_path / "gateway.log", {"PARLEY_HEADER_TIMEOUT_SECONDS": "2",
                                                        "PARLEY_BODY_TIMEOUT_SECONDS": "2"})
    try:
        async def scenario() -> list[Trickle]:
            head = _post("/channels/web/session", 40)
            return list(await asyncio.gather(
                Trickle(gateway.port, head, b"x" * 40).run(trickle_head=True),
                Trickle(gateway.port, head, b"x" * 40).run()))

        headers, body = _run(scenario)
    finally:
        gateway.stop()
    assert headers.answer == b""
    assert headers.closed_at is not None and headers.closed_at <= 2 + MARGIN
    assert body.status == 408
    assert body.answered_at is not None and body.answered_at <= 2 + MARGIN


@pytest.mark.parametrize("declared", [MAX_BODY, 20])
def test_bodies_within_the_limit_reach_the_handler(clean_redis: redis.Redis,
                                                   declared: int) -> None:
    """At the limit exactly, and a short body, sent at once: the route reads the body the
    middleware read and answers with a session."""
    body = b'{"token": null}'.ljust(declared)

    async def scenario() -> Trickle:
        async with _gateway() as server:
            return await Trickle(server.port, _post("/channels/web/session", declared)
                                 + body).run(every=0)

    client = _run(scenario)
    assert client.status == 200, client.answer[:200]
    assert "token" in client.json()
