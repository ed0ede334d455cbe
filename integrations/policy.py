"""Resilience settings, one frozen value each: how long to wait, how often to retry, when
to stop calling a failing backend for a while."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BreakerPolicy", "RetryPolicy", "Timeouts"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 2.0
    read: float = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts in all (first try included); exponential backoff with jitter, capped.
    ``after_send=False``: retry only when the request cannot have reached the backend
    (connect errors, 429), never after a read timeout, a dropped connection or a 5xx: for
    calls that are not idempotent and carry no idempotency key (a Rasa action server)."""

    attempts: int = 3
    initial_backoff: float = 0.2
    max_backoff: float = 2.0
    jitter: float = 0.1
    after_send: bool = True


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``fail_max`` failed calls in a row; try again after ``reset_timeout`` s."""

    fail_max: int = 5
    reset_timeout: float = 30.0
