"""``TicketLock``: a conversation's messages are served one at a time, in sequence order.

The gateway gives each accepted message a ticket (its sequence, an atomic ``INCR``). The
worker holding ticket N may serve once ``served`` is N-1, taking a lease (a key with an
expiry, renewed by a thread while it works) so a redelivered copy of N cannot run beside
it. Nobody polls: a worker whose turn has not come blocks on ``BLPOP wake:N``, and the
commit of N-1 pushes to it. If the turn does not come within ``wait_seconds`` the caller
should hand the message back to the queue (a Celery retry), freeing the worker for
messages that can make progress. No ``KEYS``, no sleeps.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from types import TracebackType

import redis

from workers.bus import conversation_key

__all__ = ["TicketLock", "Turn"]

# Take the lease if N-1 is served and nobody holds it; say why not otherwise.
_TRY_ACQUIRE = """
local served = tonumber(redis.call('GET', KEYS[1]) or '0')
local sequence = tonumber(ARGV[1])
if served >= sequence then return 'done' end
if served < sequence - 1 then return 'wait' end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 'ok' end
if redis.call('GET', KEYS[2]) == ARGV[2] then return 'ok' end
return 'busy'
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Turn(enum.Enum):
    SERVE = "serve"        # this worker holds the lease and must serve the message
    DONE = "done"          # already served (a redelivery): do nothing
    NOT_YET = "not_yet"    # earlier messages are still pending: requeue and try later


class TicketLock:
    """Context manager around serving ticket ``sequence`` of ``conversation_id``."""

    def __init__(self, client: redis.Redis, conversation_id: str, sequence: int, *,
                 lease_seconds: float, wait_seconds: float) -> None:
        self._redis = client
        self._sequence = sequence
        self._served = conversation_key(conversation_id, "served")
        self._lease = conversation_key(conversation_id, "lease")
        self._wake = conversation_key(conversation_id, f"wake:{sequence}")
        self._lease_ms = int(lease_seconds * 1000)
        self._wait = wait_seconds
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._try = client.register_script(_TRY_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> Turn:
        """Wait (blocking, woken by the previous commit) for this ticket's turn."""
        deadline = time.monotonic() + self._wait
        while True:
            state = self._try(keys=[self._served, self._lease],
                              args=[self._sequence, self.owner, self._lease_ms])
            state = state.decode() if isinstance(state, bytes) else state
            if state == "ok":
                self._start_renewing()
                return Turn.SERVE
            if state == "done":
                return Turn.DONE
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Turn.NOT_YET
            # 'wait': N-1 not committed yet; 'busy': a copy of N runs elsewhere. Either way
            # the next commit wakes us; the timeout only bounds a lost wake-up.
            self._redis.blpop([self._wake], timeout=max(remaining, 0.1))

    def _start_renewing(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                         name=f"lease-{self.owner[:8]}")
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._lease_ms / 3000):
            if not self._renew(keys=[self._lease], args=[self.owner, self._lease_ms]):
                return  # lost: the commit will notice and refuse

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        self._release(keys=[self._lease], args=[self.owner])

    def __enter__(self) -> TicketLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
