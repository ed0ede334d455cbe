"""Per-client limits of the browser chat, against the real gateway application (aiohttp's
TestServer) on real Redis: new sessions and WebSocket handshakes per address (shared by
two applications on one Redis), open sockets per address, trusted proxies, and what the
limiter does when Redis cannot be asked.

Windows are a few seconds long; a test that waits for one to pass waits ``Retry-After``
plus a quarter second and then expects the limit lifted (Redis's clock decides, so a
loaded machine can only make the wait longer than needed, never shorter). Where a test
expects a limit still to hold after a wait, the window leaves it seconds of margin.
Each test starts from an empty database (``clean_redis``); another suite flushing the
same ``TEST_REDIS_DB`` in the middle of a test would lift its limits early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, Counter

from gateway.app import create_app
from gateway.limit_settings import LimitSettings, Rate
from gateway.rate_limit import RedisRateLimiter
from gateway.settings import GatewaySettings
from tests.processes import REDIS_URL, clean_redis, free_port, redis_client  # noqa: F401

SESSION_SECRET = "rate-limits-session-secret"


def _settings(**limits: Any) -> GatewaySettings:
    return GatewaySettings(redis_url=REDIS_URL, session_secret=SESSION_SECRET,
                           limits=LimitSettings(**limits))


@contextlib.asynccontextmanager
async def _gateways(settings: GatewaySettings, count: int = 1
                    ) -> AsyncIterator[list[TestServer]]:
    async with contextlib.AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(TestServer(create_app(settings),
                                                              host="127.0.0.1"))
                   for _ in range(count)]
        yield servers


async def _session(http: aiohttp.ClientSession, server: TestServer, token: str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """The status, JSON body and ``Retry-After`` of ``POST /channels/web/session``."""
    async with http.post(server.make_url("/channels/web/session"), json={"token": token},
                         headers=headers) as response:
        return response.status, await response.json(), response.headers.get("Retry-After", "")


async def _refused(http: aiohttp.ClientSession, server: TestServer, reason: str) -> float:
    async with http.get(server.make_url("/metrics")) as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(f'parley_requests_refused_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_new_sessions_beyond_the_limit_get_429_until_the_window_has_passed(
        clean_redis: redis.Redis) -> None:
    async def scenario() -> dict[str, Any]:
        async with _gateways(_settings(sessions=Rate(3, 3))) as (server,), \
                aiohttp.ClientSession() as http:
            first = [await _session(http, server) for _ in range(3)]
            over = await _session(http, server)
            # Renewing a valid token is not a new conversation: never counted nor refused.
            renewed = await _session(http, server, token=first[0][1]["token"])
            await asyncio.sleep(int(over[2]) + 0.25)
            again = await _session(http, server)
            return {"first": first, "over": over, "renewed": renewed, "again": again,
                    "counted": await _refused(http, server, "sessions_rate")}

    result = asyncio.run(scenario())
    assert [status for status, _, _ in result["first"]] == [200, 200, 200]
    status, body, retry_after = result["over"]
    assert status == 429
    assert body["reason"] == "sessions_rate" and "error" in body
    assert 1 <= int(retry_after) <= 3
    assert result["renewed"][0] == 200
    assert result["renewed"][1]["conversation"] == result["first"][0][1]["conversation"]
    assert result["again"][0] == 200
    assert result["counted"] == 1


def test_two_gateways_on_one_redis_share_the_limit(clean_redis: redis.Redis) -> None:
    async def scenario() -> list[int]:
        async with _gateways(_settings(sessions=Rate(3, 60)), count=2) as (a, b), \
                aiohttp.ClientSession() as http:
            return [(await _session(http, server))[0] for server in (a, a, b, b, a)]

    assert asyncio.run(scenario()) == [200, 200, 200, 429, 429]


def test_a_trusted_proxy_s_forwarded_address_is_the_client(clean_redis: redis.Redis) -> None:
    """Behind a trusted proxy each forwarded address has its own allowance; a client's
    own X-Forwarded-For (the untrusted entry left of the proxy's) changes nothing; from
    a peer that is not trusted the header is ignored."""
    def via(*hops: str) -> dict[str, str]:
        return {"X-Forwarded-For": ", ".join(hops)}

    async def scenario(trusted: str) -> list[int]:
        settings = _settings(sessions=Rate(1, 60), trusted_proxies=LimitSettings.from_env(
            {"PARLEY_TRUSTED_PROXIES": trusted}).trusted_proxies)
        async with _gateways(settings) as (server,), aiohttp.ClientSession() as http:
            return [(await _session(http, server, headers=headers))[0] for headers in (
                via("203.0.113.5"), via("198.51.100.1", "203.0.113.5"), via("203.0.113.6"))]

    assert asyncio.run(scenario("127.0.0.1,10.0.0.0/8")) == [200, 429, 200]
    clean_redis.flushdb()
    assert asyncio.run(scenario("10.0.0.0/8")) == [200, 429, 429]


async def _open_socket(http: aiohttp.ClientSession, server: TestServer, token: str
                       ) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.make_url("/channels/web/ws"))
    await ws.send_json({"type": "hello", "token": token, "after": 0})
    welcome = await ws.receive_json(timeout=30)
    assert welcome["type"] == "welcome"
    return ws


async def _refused_handshake(http: aiohttp.ClientSession, server: TestServer
                             ) -> aiohttp.WSServerHandshakeError:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(server.make_url("/channels/web/ws"))
    return refused.value


def test_sockets_beyond_the_per_client_cap_are_refused_until_one_closes(
        clean_redis: redis.Redis) -> None:
    async def scenario() -> dict[str, Any]:
        async with _gateways(_settings(max_sockets_per_client=2)) as (server,), \
                aiohttp.ClientSession() as http:
            _, session, _ = await _session(http, server)
            held = [await _open_socket(http, server, session["token"]) for _ in range(2)]
            refused = await _refused_handshake(http, server)
            await held.pop().close()
            # The gateway sees the close a moment later: retry for up to 10 s.
            deadline = time.monotonic() + 10
            while True:
                try:
                    held.append(await _open_socket(http, server, session["token"]))
                    break
                except aiohttp.WSServerHandshakeError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            for ws in held:
                await ws.close()
            return {"refused": refused, "counted": await _refused(http, server,
                                                                  "sockets_open")}

    result = asyncio.run(scenario())
    assert result["refused"].status == 429
    assert result["refused"].headers is not None
    assert result["refused"].headers["Retry-After"] == "10"
    assert result["counted"] >= 1


def test_socket_handshakes_beyond_the_rate_are_refused(clean_redis: redis.Redis) -> None:
    async def scenario() -> tuple[aiohttp.WSServerHandshakeError, int, dict[str, Any]]:
        async with _gateways(_settings(sockets=Rate(2, 60))) as (server,), \
                aiohttp.ClientSession() as http:
            _, session, _ = await _session(http, server)
            for _ in range(2):
                await (await _open_socket(http, server, session["token"])).close()
            refused = await _refused_handshake(http, server)
            # The refusal's body, as a plain GET of the socket's URL shows it.
            async with http.get(server.make_url("/channels/web/ws")) as response:
                return refused, response.status, await response.json()

    refused, status, body = asyncio.run(scenario())
    assert refused.status == 429
    assert refused.headers is not None and 50 <= int(refused.headers["Retry-After"]) <= 60
    assert status == 429 and body["reason"] == "sockets_rate"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def _silent_server() -> Any:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _unavailable() -> tuple[Counter, CollectorRegistry]:
    registry = CollectorRegistry()
    return Counter("unavailable", "test", registry=registry), registry


def test_the_limiter_lets_requests_through_when_redis_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: every check passes, is counted, and one line a minute says so."""
    (counter, registry), clock = _unavailable(), _Clock()

    async def scenario() -> list[bool]:
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0",
                                         socket_connect_timeout=2)
        limiter = RedisRateLimiter(client, name="sessions", rate=Rate(1, 60),
                                   unavailable=counter, clock=clock)
        try:
            allowed = [(await limiter.check("203.0.113.5")).allowed for _ in range(3)]
            clock.now += 61
            allowed.append((await limiter.check("203.0.113.5")).allowed)
            return allowed
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="parley.gateway.rate_limit"):
        assert asyncio.run(scenario()) == [True] * 4
    lines = [r.getMessage() for r in caplog.records if r.name == "parley.gateway.rate_limit"]
    assert len(lines) == 2
    assert "rate limit sessions not applied" in lines[0]
    assert "(2 passed unchecked since the last notice)" in lines[1]
    assert registry.get_sample_value("unavailable_total") == 4


def test_the_limiter_does_not_wait_on_a_hung_redis() -> None:
    """A Redis that accepts and never answers: the check passes after its timeout."""
    counter, registry = _unavailable()

    async def scenario(port: int) -> tuple[bool, float]:
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=60)
        limiter = RedisRateLimiter(client, name="sockets", rate=Rate(1, 60),
                                   unavailable=counter, timeout=0.5)
        try:
            begun = time.monotonic()
            decision = await limiter.check("203.0.113.5")
            return decision.allowed, time.monotonic() - begun
        finally:
            await client.aclose()

    with _silent_server() as port:
        allowed, took = asyncio.run(scenario(port))
    assert allowed
    assert took < 0.5 + 8  # the timeout, plus a loaded machine's margin (not socket_timeout)
    assert registry.get_sample_value("unavailable_total") == 1


def test_the_sliding_window_counts_any_window_long_span(clean_redis: redis.Redis) -> None:
    """Two per 6 s: admitted at 0 s and ~3 s, the third is told to wait until the first
    leaves the window (~3 s, whole seconds rounded up), not until a fixed window ends;
    then one more fits, and not two (the second admission stays until ~9 s)."""
    async def scenario() -> list[tuple[bool, int]]:
        client = aioredis.Redis.from_url(REDIS_URL)
        limiter = RedisRateLimiter(client, name="t", rate=Rate(2, 6),
                                   unavailable=_unavailable()[0])
        try:
            decisions = [await limiter.check("c")]
            await asyncio.sleep(3)
            decisions += [await limiter.check("c"), await limiter.check("c")]
            await asyncio.sleep(decisions[-1].retry_after + 0.25)
            decisions += [await limiter.check("c"), await limiter.check("c")]
            return [(d.allowed, d.retry_after) for d in decisions]
        finally:
            await client.aclose()

    (a, _), (b, _), (c, wait), (d, _), (e, _) = asyncio.run(scenario())
    assert (a, b, c) == (True, True, False)
    assert 1 <= wait <= 3
    assert d is True   # the first admission has left the window...
    assert e is False  # ...the second has not


class _CuttableRedis:
    """A TCP relay to the test Redis, on this loop, that can be cut: its port then refuses
    connections and the relayed ones are closed (Redis gone, as the gateway sees it)."""

    def __init__(self) -> None:
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> _CuttableRedis:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def cut(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in list(self._writers)),
                             return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_with_redis_gone_a_limited_request_is_not_a_500(clean_redis: redis.Redis,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """The limiter lets the request through (and says so); the session route then needs
    Redis itself and answers 503 with Retry-After, as any request does with Redis gone."""
    database = REDIS_URL.rsplit("/", 1)[1]

    async def scenario() -> tuple[int, int, str]:
        async with _CuttableRedis() as relay:
            settings = GatewaySettings(redis_url=f"redis://127.0.0.1:{relay.port}/{database}",
                                       session_secret=SESSION_SECRET,
                                       limits=LimitSettings(sessions=Rate(1, 60)))
            async with _gateways(settings) as (server,), aiohttp.ClientSession() as http:
                before = (await _session(http, server))[0]
                await relay.cut()
                status, _, retry_after = await _session(http, server)
                return before, status, retry_after

    with caplog.at_level(logging.WARNING, logger="parley.gateway.rate_limit"):
        before, status, retry_after = asyncio.run(scenario())
    assert before == 200
    assert status == 503 and retry_after
    assert any("rate limit sessions not applied" in r.getMessage() for r in caplog.records)
