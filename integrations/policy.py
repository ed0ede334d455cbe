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
    """Attempts in all (first try included); exponential backoff with jitter, capped."""

    attempts: int = 3
    initial_backoff: float = 0.2
    max_backoff: float = 2.0
    jitter: float = 0.1


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``fail_max`` failed calls in a row; try again after ``reset_timeout`` s."""

    fail_max: int = 5
    reset_timeout: float = 30.0
