"""``ActionServerClient``: a Rasa action server (``rasa_sdk``'s, or any that speaks its
protocol), called the way Rasa calls it::

    POST {url}[?{token_name}={token}]   {next_action, sender_id, tracker, domain, version}
      200 {events: [...], responses: [...]}
      400 {error, action_name}   the action rejected its execution (a form's validation)
      404 {error, action_name}   the server has no such action

A POST to an action server is not idempotent (the action may call a backend), so only
failures where the request cannot have reached the server are retried (connection
refused, connect timeout); a read timeout, a dropped connection or a 5xx is not. The read
timeout is short (3 s by default), well under a conversation's lease (6 s), so a slow
server costs one turn an apology, never a stuck conversation. A breaker opens after
``fail_max`` failed calls in a row and refuses calls at once until ``reset_timeout``.
Rasa sends the token as a query parameter; this client keeps it out of log lines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

from integrations.base import ResilientClient
from integrations.errors import BackendUnavailable
from integrations.observer import BackendObserver
from integrations.policy import BreakerPolicy, RetryPolicy, Timeouts

__all__ = ["ACTION_SERVER_BREAKER", "ACTION_SERVER_RETRY", "ACTION_SERVER_TIMEOUTS",
           "ActionServerClient", "ActionServerResult"]

ACTION_SERVER_TIMEOUTS = Timeouts(connect=1.0, read=3.0)
ACTION_SERVER_RETRY = RetryPolicy(attempts=2, after_send=False)
ACTION_SERVER_BREAKER = BreakerPolicy(fail_max=3, reset_timeout=30.0)


@dataclass(frozen=True, slots=True)
class ActionServerResult:
    """What the server answered: Rasa event dicts and response dicts, as sent."""

    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


class _RedactToken(logging.Filter):
    """urllib3 logs request lines (with the query) at debug level: hide the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "***"), ()
        return True


class ActionServerClient:
    """Runs actions on one action server; ``url`` is the whole webhook URL, as in
    ``endpoints.yml`` (``http://localhost:5055/webhook``)."""

    def __init__(self, *, url: str, token: str | None = None, token_name: str = "token",
                 timeouts: Timeouts = ACTION_SERVER_TIMEOUTS,
                 retry: RetryPolicy = ACTION_SERVER_RETRY,
                 breaker: BreakerPolicy = ACTION_SERVER_BREAKER,
                 observer: BackendObserver | None = None) -> None:
        self._http = ResilientClient(name="action_server", base_url=url, timeouts=timeouts,
                                     retry=retry, breaker=breaker, observer=observer)
        self._query = f"?{quote(token_name)}={quote(token, safe='')}" if token else ""
        if token:
            _redact(quote(token, safe=""))

    def __repr__(self) -> str:
        return f"ActionServerClient(url={self._http.base_url!r})"

    def run(self, call: dict[str, Any]) -> ActionServerResult:
        """Run ``call["next_action"]``. Raises ``BackendRejected`` (400: rejected; 404:
        ``NotFound``) or ``BackendUnavailable`` (down, slow, 5xx, breaker open, or an
        answer that is not Rasa's response format)."""
        try:
            answer = self._http.post_json(self._query, call)
        except ValueError as exc:  # a 200 whose body is not JSON
            raise BackendUnavailable("action_server: the answer is not JSON") from exc
        if answer is None:  # rasa_sdk answers null to a call without next_action
            return ActionServerResult()
        if not isinstance(answer, dict):
            raise BackendUnavailable("action_server: the answer is not a JSON object")
        events, responses = answer.get("events") or [], answer.get("responses") or []
        if not _dicts(events) or not _dicts(responses):
            raise BackendUnavailable("action_server: 'events' and 'responses' must be "
                                     "lists of objects")
        return ActionServerResult(events, responses)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ActionServerClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _redact(token: str) -> None:
    pool = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactToken) and f.token == token for f in pool.filters):
        pool.addFilter(_RedactToken(token))


def _dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)
