"""ResilientClient against a real HTTP server: retries, Retry-After, breaker, cache."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from integrations import (
    BackendRejected,
    BackendUnavailable,
    BreakerPolicy,
    NotFound,
    ResilientClient,
    RetryPolicy,
    Timeouts,
)

from .fake_backend import FakeBackend

FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05, jitter=0.0)


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    with FakeBackend() as server:
        yield server


def _client(backend: FakeBackend, **kwargs: object) -> ResilientClient:
    options: dict = {"retry": FAST, "timeouts": Timeouts(connect=1.0, read=0.5)}
    options.update(kwargs)
    return ResilientClient(name="test", base_url=backend.url, **options)


def test_transient_errors_are_retried_until_success(backend: FakeBackend) -> None:
    backend.script.extend([(500, {}, 0), (503, {}, 0)])
    with _client(backend) as client:
        assert client.get_json("/x") == {"ok": True, "path": "/x"}
    assert backend.hits == 3


def test_gives_up_after_the_attempts_of_the_policy(backend: FakeBackend) -> None:
    backend.script.extend([(502, {}, 0)] * 5)
    with _client(backend) as client, pytest.raises(BackendUnavailable, match="after 3 attempts"):
        client.get_json("/x")
    assert backend.hits == 3


def test_read_timeout_is_transient(backend: FakeBackend) -> None:
    backend.script.extend([(200, {}, 1.0), (200, {}, 0)])
    with _client(backend) as client:
        assert client.get_json("/slow")["ok"] is True
    assert backend.hits == 2


def test_client_errors_are_not_retried(backend: FakeBackend) -> None:
    backend.script.extend([(400, {}, 0), (404, {}, 0)])
    with _client(backend) as client:
        with pytest.raises(BackendRejected) as caught:
            client.post_json("/y", {"a": 1})
        assert caught.value.status == 400 and "scripted 400" in str(caught.value)
        with pytest.raises(NotFound):
            client.get_json("/z")
    assert backend.hits == 2


def test_retry_after_is_honoured(backend: FakeBackend) -> None:
    backend.script.append((429, {"Retry-After": "0.3"}, 0))
    policy = RetryPolicy(attempts=2, initial_backoff=0.0, max_backoff=1.0, jitter=0.0)
    with _client(backend, retry=policy) as client:
        started = time.monotonic()
        client.get_json("/x")
        elapsed = time.monotonic() - started
    # At least the 0.3 s asked for (the policy's own backoff is 0); the upper bound only
    # rules out a far longer wait, with room for a loaded machine.
    assert 0.3 <= elapsed < 3.0 and backend.hits == 2


def test_idempotency_key_is_sent(backend: FakeBackend) -> None:
    with _client(backend) as client:
        client.post_json("/refunds", {}, idempotency_key="abc123")
    assert backend.headers_seen[0]["Idempotency-Key"] == "abc123"


def test_breaker_opens_fails_fast_and_closes_again(backend: FakeBackend) -> None:
    once = RetryPolicy(attempts=1)
    breaker = BreakerPolicy(fail_max=2, reset_timeout=0.3)
    backend.script.extend([(500, {}, 0)] * 2)
    with _client(backend, retry=once, breaker=breaker) as client:
        for _ in range(2):
            with pytest.raises(BackendUnavailable):
                client.get_json("/x")
        with pytest.raises(BackendUnavailable, match="circuit open"):
            client.get_json("/x")
        assert backend.hits == 2               # the open breaker sent nothing
        time.sleep(0.35)
        assert client.get_json("/x")["ok"] is True
        assert backend.hits == 3


def test_rejections_do_not_trip_the_breaker(backend: FakeBackend) -> None:
    backend.script.extend([(404, {}, 0)] * 3)
    with _client(backend, breaker=BreakerPolicy(fail_max=2, reset_timeout=30)) as client:
        for _ in range(3):
            with pytest.raises(NotFound):
                client.get_json("/missing")
        assert client.get_json("/x")["ok"] is True


def test_fresh_gets_are_served_from_the_cache(backend: FakeBackend) -> None:
    with _client(backend, cache_seconds=60) as client:
        first = client.get_json("/cached")
        assert client.get_json("/cached") == first
    assert backend.hits == 1


def test_token_is_sent_but_never_shown(backend: FakeBackend) -> None:
    with _client(backend, token="s3cret-token") as client:
        client.get_json("/x")
        assert "s3cret" not in repr(client)
    assert backend.headers_seen[0]["Authorization"] == "Bearer s3cret-token"
