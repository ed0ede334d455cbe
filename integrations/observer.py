"""``BackendObserver``: how a caller learns what its backend calls did, without the
integrations knowing who listens (the workers' metrics, ``workers.metrics``).

Outcomes of one call: ``success`` (the first attempt answered), ``retried`` (answered
after one or more transient failures), ``rejected`` (a 4xx answer, 404 included: the
backend is fine, the request was not), ``failed`` (transient failures until the attempts
ran out, or an answer that could not be read; the call that trips the breaker is one of
these), ``breaker_open`` (refused at once: the breaker is open). Breaker states: pybreaker's
``closed``, ``half-open``, ``open``; reported at construction and on every change.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["BackendObserver", "BreakerState", "CallOutcome"]

CallOutcome = Literal["success", "retried", "rejected", "failed", "breaker_open"]
BreakerState = Literal["closed", "half-open", "open"]


class BackendObserver(Protocol):
    """Called synchronously on the calling thread; must be cheap and must not raise."""

    def call_ended(self, client: str, outcome: CallOutcome) -> None: ...

    def breaker_changed(self, client: str, state: BreakerState) -> None: ...
