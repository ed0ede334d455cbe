"""``ActionServerClient`` against a scriptable HTTP server on 127.0.0.1: a POST the server
may have acted on is never sent twice, the breaker stops the calls, the token travels as
Rasa sends it (a query parameter) and never reaches a log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from brain.actions.rasa_protocol import ActionRejected
from brain.actions.remote import RemoteRasaActions
from brain.endpoints_settings import ActionEndpoint
from integrations.action_server import ActionServerClient
from integrations.errors import BackendUnavailable
from integrations.policy import RetryPolicy, Timeouts
from tests.integrations.fake_backend import FakeBackend
from tests.integrations.rasa_action_server import free_port

CALL = {"next_action": "action_x", "sender_id": "c", "tracker": {}, "domain": {},
        "version": "3.6.21"}


class FakeActionServer(FakeBackend):
    """Also remembers each request's query string."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    async def _handle(self, request: web.Request) -> web.Response:
        self.queries.append(request.rel_url.raw_query_string)
        return await super()._handle(request)


@pytest.fixture
def server() -> Iterator[FakeActionServer]:
    with FakeActionServer() as running:
        yield running


def _client(url: str, **kwargs: object) -> ActionServerClient:
    return ActionServerClient(url=f"{url}/webhook", retry=RetryPolicy(
        attempts=2, initial_backoff=0.01, max_backoff=0.01, after_send=False),
        timeouts=Timeouts(connect=0.5, read=0.3), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("script", [(500, {}, 0.0), (200, {}, 0.6)], ids=["5xx", "timeout"])
def test_a_request_the_server_may_have_acted_on_is_not_retried(
        server: FakeActionServer, script: tuple[int, dict[str, str], float]) -> None:
    server.script.extend([script, script])
    with _client(server.url) as client, pytest.raises(BackendUnavailable):
        client.run(CALL)
    assert server.hits == 1


def test_a_request_that_cannot_have_arrived_is_retried(server: FakeActionServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    server.script.append((429, {}, 0.0))  # refused before any work
    with _client(server.url) as client:
        assert client.run(CALL).events == []
    assert server.hits == 2
    caplog.clear()
    with _client(f"http://127.0.0.1:{free_port()}") as client, caplog.at_level(
            logging.WARNING, logger="parley.integrations.action_server"), pytest.raises(
            BackendUnavailable, match="connection failed"):
        client.run(CALL)
    assert [r.getMessage() for r in caplog.records] == [
        "attempt 1 failed (connection failed); retrying"]


def test_the_breaker_opens_and_later_calls_send_nothing(server: FakeActionServer) -> None:
    server.script.extend([(500, {}, 0.0)] * 5)
    with _client(server.url) as client:
        for _ in range(3):
            with pytest.raises(BackendUnavailable):
                client.run(CALL)
        begun = time.monotonic()
        with pytest.raises(BackendUnavailable, match="circuit open"):
            client.run(CALL)
        assert time.monotonic() - begun < 0.05
    assert server.hits == 3


def test_a_rejection_is_not_a_failure_and_does_not_count_for_the_breaker(
        server: FakeActionServer) -> None:
    server.script.extend([(400, {}, 0.0)] * 4)
    remote = RemoteRasaActions(ActionEndpoint(url=f"{server.url}/webhook", timeout=0.5))
    for _ in range(4):
        with pytest.raises(ActionRejected, match="scripted 400"):
            remote.run(CALL)
    assert server.hits == 4  # four rejections answered, the breaker still closed
    remote.client.close()


def test_the_token_is_a_query_parameter_kept_out_of_logs(
        server: FakeActionServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="urllib3"), _client(
            server.url, token="s3cr/et", token_name="auth") as client:
        client.run(CALL)
    assert server.queries == ["auth=s3cr%2Fet"]
    assert "webhook?auth=***" in caplog.text and "s3cr" not in caplog.text
    assert "s3cr" not in repr(client)
