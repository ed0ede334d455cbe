"""``ResilientClient``: the one way Parley calls a backend over HTTP (synchronously).

Every call has explicit timeouts; transient failures (timeouts, connection errors, 429,
5xx) are retried with exponential backoff and jitter, honouring ``Retry-After`` up to the
policy's cap, a bounded number of times (tenacity); a circuit breaker (pybreaker) around
the retried call stops hammering a backend that keeps failing and fails fast while open.
Client errors (4xx) are neither retried nor counted by the breaker. A policy with
``after_send=False`` retries only failures where the request cannot have reached the
backend (connection refused, connect timeout, 429), for calls that must not run twice.
GETs can be cached for a few seconds. ``requests`` exceptions are translated here and never leave.
An optional ``BackendObserver`` (``integrations.observer``) hears each call's outcome and
each change of the breaker's state (the workers' metrics listen there).
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any, cast

import pybreaker
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter
from urllib3.exceptions import ConnectTimeoutError

from integrations.errors import BackendRejected, BackendUnavailable, NotFound
from integrations.observer import BackendObserver, BreakerState, CallOutcome
from integrations.policy import BreakerPolicy, RetryPolicy, Timeouts

__all__ = ["ResilientClient"]


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested delay, if any.
    ``sent``: the backend may have received (and acted on) the request."""

    def __init__(self, reason: str, retry_after: float | None = None, *,
                 sent: bool = True) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.sent = sent


class _Attempts:
    """How many times one call reached the backend (retries included)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class _BreakerListener(pybreaker.CircuitBreakerListener):
    def __init__(self, client: str, observer: BackendObserver) -> None:
        self._client = client
        self._observer = observer

    def state_change(self, cb: pybreaker.CircuitBreaker,
                     old_state: pybreaker.CircuitBreakerState | None,
                     new_state: pybreaker.CircuitBreakerState) -> None:
        self._observer.breaker_changed(self._client, cast(BreakerState, new_state.name))


class ResilientClient:
    """JSON over HTTP to one backend at ``base_url``."""

    def __init__(self, *, name: str, base_url: str, token: str | None = None,
                 timeouts: Timeouts = Timeouts(), retry: RetryPolicy = RetryPolicy(),
                 breaker: BreakerPolicy = BreakerPolicy(), cache_seconds: float = 0.0,
                 observer: BackendObserver | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeouts = timeouts
        self._retry = retry
        self._backoff = wait_exponential_jitter(multiplier=retry.initial_backoff,
                                                max=retry.max_backoff, jitter=retry.jitter)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=breaker.fail_max, reset_timeout=breaker.reset_timeout,
            exclude=[BackendRejected], name=name,
            listeners=[_BreakerListener(name, observer)] if observer else None)
        self._observer = observer
        if observer is not None:
            observer.breaker_changed(name, "closed")
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._session = requests.Session()
        self._log = logging.getLogger(f"parley.integrations.{name}")

    def __repr__(self) -> str:
        token = "***" if self._token else None
        return (f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
                f"token={token})")

    def get_json(self, path: str) -> Any:
        """GET ``path``; served from the cache when fresh. Raises the integration errors."""
        cached = self._cache.get(path)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result = self._call("GET", path, None, None)
        if self._cache_seconds > 0:
            self._cache[path] = (time.monotonic() + self._cache_seconds, result)
        return result

    def post_json(self, path: str, body: Any, *, idempotency_key: str | None = None) -> Any:
        """POST ``body``; with ``idempotency_key`` a retried POST cannot act twice."""
        return self._call("POST", path, body, idempotency_key)

    def _call(self, method: str, path: str, body: Any, key: str | None) -> Any:
        attempts = _Attempts()
        outcome: CallOutcome = "failed"
        try:
            result = self._breaker.call(self._with_retries, method, path, body, key, attempts)
            outcome = "retried" if attempts.count > 1 else "success"
            return result
        except pybreaker.CircuitBreakerError as exc:
            # The call that trips the breaker raises this too, after really trying.
            outcome = "failed" if attempts.count else "breaker_open"
            raise BackendUnavailable(f"{self.name}: circuit open after repeated failures") from exc
        except BackendRejected:
            outcome = "rejected"
            raise
        finally:
            if self._observer is not None:
                self._observer.call_ended(self.name, outcome)

    def _with_retries(self, method: str, path: str, body: Any, key: str | None,
                      attempts: _Attempts) -> Any:
        retrying = Retrying(stop=stop_after_attempt(self._retry.attempts), wait=self._wait,
                            retry=retry_if_exception(self._retryable), reraise=True,
                            before_sleep=self._log_retry)
        try:
            return retrying(self._once, method, path, body, key, attempts)
        except _Transient as exc:
            raise BackendUnavailable(f"{self.name}: {exc} (after {attempts.count} "
                                     "attempts)") from exc

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, _Transient) and (self._retry.after_send or not error.sent)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return min(error.retry_after, self._retry.max_backoff)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._log.warning("attempt %d failed (%s); retrying", state.attempt_number, error)

    def _once(self, method: str, path: str, body: Any, key: str | None,
              attempts: _Attempts) -> Any:
        attempts.count += 1
        headers = {"Accept": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._session.request(
                method, f"{self.base_url}{path}", json=body, headers=headers,
                timeout=(self._timeouts.connect, self._timeouts.read))
        except requests.ConnectTimeout as exc:  # no connection: nothing was sent
            raise _Transient("connect timed out", sent=False) from exc
        except requests.Timeout as exc:
            raise _Transient("timed out") from exc
        except requests.ConnectionError as exc:
            raise _Transient("connection failed", sent=_maybe_sent(exc)) from exc
        return _result(response)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ResilientClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _maybe_sent(exc: requests.ConnectionError) -> bool:
    """False only when the connection was never made (refused, unresolvable, timed out
    connecting); a connection dropped later may have delivered the request."""
    cause = exc.args[0] if exc.args else None
    return not isinstance(getattr(cause, "reason", cause), ConnectTimeoutError)


def _result(response: requests.Response) -> Any:
    status = response.status_code
    if status == 429:  # refused before any work: safe to send again
        raise _Transient("HTTP 429", _retry_after(response), sent=False)
    if status >= 500:
        raise _Transient(f"HTTP {status}", _retry_after(response))
    if status == 404:
        raise NotFound(status, _message(response))
    if status >= 400:
        raise BackendRejected(status, _message(response))
    return response.json() if response.content else None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # the HTTP-date form is rare from APIs; fall back to backoff


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return str(data)[:200]
