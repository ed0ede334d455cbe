"""What a ``BackendObserver`` hears from a ResilientClient talking to a real HTTP server:
one outcome per call, and every state the breaker goes through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations import (
    BackendRejected,
    BackendUnavailable,
    BreakerPolicy,
    BreakerState,
    CallOutcome,
    ResilientClient,
    RetryPolicy,
    Timeouts,
)

from .fake_backend import FakeBackend


class _Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[str, CallOutcome]] = []
        self.states: list[tuple[str, BreakerState]] = []

    def call_ended(self, client: str, outcome: CallOutcome) -> None:
        self.calls.append((client, outcome))

    def breaker_changed(self, client: str, state: BreakerState) -> None:
        self.states.append((client, state))


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    with FakeBackend() as server:
        yield server


def test_each_call_reports_one_outcome_and_the_breaker_its_states(
        backend: FakeBackend) -> None:
    heard = _Heard()
    client = ResilientClient(
        name="orders", base_url=backend.url, observer=heard,
        retry=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02, jitter=0.0),
        timeouts=Timeouts(connect=1.0, read=0.5),
        breaker=BreakerPolicy(fail_max=2, reset_timeout=0.2))
    with client:
        assert heard.states == [("orders", "closed")]  # known from the start
        client.get_json("/a")                                   # success
        backend.script.append((503, {}, 0))
        client.get_json("/b")                                   # retried, then answered
        backend.script.append((404, {}, 0))
        with pytest.raises(BackendRejected):
            client.get_json("/c")                               # rejected (not counted)
        backend.script.extend([(500, {}, 0)] * 4)
        for path in ("/d", "/e"):                               # failed twice: trips
            with pytest.raises(BackendUnavailable):
                client.get_json(path)
        hits = backend.hits
        with pytest.raises(BackendUnavailable, match="circuit open"):
            client.get_json("/f")                               # refused at once
        assert backend.hits == hits
    assert [outcome for _, outcome in heard.calls] == [
        "success", "retried", "rejected", "failed", "failed", "breaker_open"]
    assert heard.states == [("orders", "closed"), ("orders", "open")]
