"""The app's error middleware and the throttle of its log lines, on handlers that raise
what a request can make a handler raise: each answer is JSON, infrastructure trouble
stays a 503 with Retry-After, an unforeseen exception in a channel is a 400."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.exceptions
from aiohttp import web
from aiohttp.http_exceptions import TransferEncodingError
from aiohttp.test_utils import TestClient, TestServer

from channels.errors import BadRequest, Unauthorized, Unavailable
from channels.slack.parse import address
from gateway import request_errors
from gateway.app import _json_errors
from gateway.request_errors import Throttle


@pytest.fixture(autouse=True)
def fresh_log_throttles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(request_errors, "_CLIENTS", Throttle())
    monkeypatch.setattr(request_errors, "_BUGS", Throttle())
    yield


def answer(raise_: Callable[[], Any], times: int = 1) -> list[tuple[int, dict[str, str], Any]]:
    async def handler(request: web.Request) -> web.Response:
        raise_()
        return web.Response()

    async def main() -> list[tuple[int, dict[str, str], Any]]:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_post("/channels/test", handler)
        async with TestClient(TestServer(app)) as client:
            answers = []
            for _ in range(times):
                response = await client.post("/channels/test")
                answers.append((response.status, dict(response.headers),
                                await response.json()))
            return answers

    return asyncio.run(main())


def raising(exc: BaseException) -> Callable[[], None]:
    def raise_() -> None:
        raise exc
    return raise_


@pytest.mark.parametrize(("exc", "status", "retry_after"), [
    (redis.exceptions.ConnectionError("Redis is down"), 503, "1"),
    (redis.exceptions.TimeoutError("Redis is slow"), 503, "1"),
    (ConnectionRefusedError("refused"), 503, "1"),
    (Unavailable("Slack auth.test failed"), 503, "5"),
])
def test_infrastructure_trouble_stays_a_503_with_retry_after(exc: Exception, status: int,
                                                              retry_after: str) -> None:
    [(answered, headers, body)] = answer(raising(exc))
    assert (answered, headers["Retry-After"]) == (status, retry_after)
    assert body == {"error": "temporarily unavailable, retry later"}


@pytest.mark.parametrize(("exc", "status"), [
    (BadRequest("the body is not valid JSON"), 400), (Unauthorized("bad signature"), 401),
    (TransferEncodingError("bad chunk"), 400), (web.HTTPRequestEntityTooLarge(10, 20), 413),
])
def test_a_clients_mistake_is_its_4xx_in_json(exc: Exception, status: int) -> None:
    [(answered, headers, body)] = answer(raising(exc))
    assert answered == status and headers["Content-Type"].startswith("application/json")
    assert isinstance(body["error"], str) and body["error"]


def test_a_refusal_keeps_its_own_headers() -> None:
    [(status, headers, _)] = answer(raising(web.HTTPMethodNotAllowed("PUT", ["POST", "GET"])))
    assert status == 405 and headers["Allow"] == "GET,POST"


def test_an_unforeseen_exception_in_a_channel_is_a_malformed_request(
        caplog: pytest.LogCaptureFixture) -> None:
    # address() raises ValueError by design for a conversation id that is not Slack's:
    # here it stands for a parser meeting a shape it did not foresee.
    answers = answer(lambda: address("not-slack"), times=3)
    assert [(s, b) for s, _, b in answers] == [(400, {"error": "malformed request"})] * 3
    logged = [r for r in caplog.records if r.name == "parley.gateway.requests"]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once a minute
    assert "ValueError" in logged[0].getMessage() and "a channel read" in logged[0].getMessage()


def test_an_unforeseen_exception_elsewhere_is_ours_a_500(
        caplog: pytest.LogCaptureFixture) -> None:
    answers = answer(raising(ZeroDivisionError("a bug")), times=2)
    assert [(s, b) for s, _, b in answers] == [(500, {"error": "internal error"})] * 2
    assert len([r for r in caplog.records if r.exc_info is not None]) == 1


def test_malformed_requests_are_logged_once_per_client_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    answers = answer(raising(BadRequest("not JSON")), times=4)
    assert [s for s, _, _ in answers] == [400] * 4
    logged = [r for r in caplog.records if r.name == "parley.gateway.requests"]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert logged[0].getMessage() == (
        "refused a malformed request to POST /channels/test from 127.0.0.1: not JSON")


def test_unauthorized_requests_are_not_logged_as_malformed(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "parley.gateway.requests"):
        answer(raising(Unauthorized("bad signature")))
    assert not [r for r in caplog.records if r.name == "parley.gateway.requests"]


# -- the throttle ---------------------------------------------------------------------------

def test_the_throttle_lets_a_key_through_once_a_minute_and_counts_the_rest() -> None:
    now = [0.0]
    throttle = Throttle(every=60, clock=lambda: now[0])
    assert throttle.allow("a") == 0
    assert throttle.allow("a") is None and throttle.allow("a") is None
    assert throttle.allow("b") == 0
    now[0] = 60.0
    assert throttle.allow("a") == 2  # two held back since


def test_the_throttle_remembers_a_bounded_number_of_keys() -> None:
    now = [0.0]
    throttle = Throttle(every=60, most=2, clock=lambda: now[0])
    assert throttle.allow("a") == 0 and throttle.allow("b") == 0
    assert throttle.allow("c") is None  # all remembered keys are recent: held back
    now[0] = 61.0
    assert throttle.allow("c") == 0  # the old ones forgotten
