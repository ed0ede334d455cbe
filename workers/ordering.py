"""``TicketLock``: a conversation's messages are served one at a time, in sequence order.

The gateway gives each accepted message a ticket (its sequence, an atomic ``INCR``). The
worker holding ticket N may serve once ``served`` is N-1, taking a lease (a key with an
expiry, renewed by one ``LeaseRenewer`` thread per process while it works) so a redelivered
copy of N cannot run beside it. Taking the turn also reads the conversation's state, in the
same round trip. Nobody polls: a worker whose turn has not come blocks on ``BLPOP wake:N``, and the
commit of N-1 pushes to it. If the turn does not come within ``wait_seconds`` the caller
should hand the message back to the queue (a Celery retry), freeing the worker for
messages that can make progress. No ``KEYS``, no sleeps.
"""

from __future__ import annotations

import enum
import os
import threading
import time
import uuid
from types import TracebackType

import redis

from workers.bus import conversation_key

__all__ = ["LeaseRenewer", "TicketLock", "Turn"]

# Take the lease if N-1 is served and nobody holds it; say why not otherwise.
_TRY_ACQUIRE = """
local served = tonumber(redis.call('GET', KEYS[1]) or '0')
local sequence = tonumber(ARGV[1])
if served >= sequence then return 'done' end
if served < sequence - 1 then return 'wait' end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3])
   or redis.call('GET', KEYS[2]) == ARGV[2] then
  return {'ok', redis.call('GET', KEYS[3])}
end
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


class LeaseRenewer:
    """One thread per process renews the leases its turns hold (a thread per turn cost a
    start and a join on every message). Started on first use, so after a fork."""

    def __init__(self, client: redis.Redis, lease_ms: int) -> None:
        self._redis = client
        self._lease_ms = lease_ms
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, str] = {}   # owner → lease key
        self._guard = threading.Lock()
        self._pid = 0

    @property
    def lease_ms(self) -> int:
        return self._lease_ms

    def hold(self, key: str, owner: str) -> None:
        with self._guard:
            self._held[owner] = key
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._loop, daemon=True, name="parley-leases").start()

    def drop(self, owner: str) -> None:
        with self._guard:
            self._held.pop(owner, None)

    def _loop(self) -> None:
        while True:
            time.sleep(self._lease_ms / 3000)
            with self._guard:
                held = list(self._held.items())
            for owner, key in held:
                try:
                    if not self._renew(keys=[key], args=[owner, self._lease_ms]):
                        self.drop(owner)  # lost: the commit will notice and refuse
                except redis.RedisError:
                    pass  # retried on the next round; the lease outlives a few misses


class TicketLock:
    """Context manager around serving ticket ``sequence`` of ``conversation_id``.

    ``state_key`` is read together with a successful acquire (``state`` afterwards), so a
    turn costs one round trip to start and one (the commit) to end.
    """

    def __init__(self, client: redis.Redis, conversation_id: str, sequence: int, *,
                 renewer: LeaseRenewer, wait_seconds: float, state_key: str) -> None:
        self._redis = client
        self._sequence = sequence
        self._served = conversation_key(conversation_id, "served")
        self._lease = conversation_key(conversation_id, "lease")
        self._wake = conversation_key(conversation_id, f"wake:{sequence}")
        self._state_key = state_key
        self._renewer = renewer
        self._lease_ms = renewer.lease_ms
        self._wait = wait_seconds
        self.owner = uuid.uuid4().hex
        self.state: bytes | None = None
        self._held = False
        self._ended = False
        self._try = client.register_script(_TRY_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> Turn:
        """Wait (blocking, woken by the previous commit) for this ticket's turn."""
        deadline = time.monotonic() + self._wait
        while True:
            result = self._try(keys=[self._served, self._lease, self._state_key],
                               args=[self._sequence, self.owner, self._lease_ms])
            if isinstance(result, list):
                self.state = result[1] if len(result) > 1 else None
                self._held = True
                self._renewer.hold(self._lease, self.owner)
                return Turn.SERVE
            state = result.decode() if isinstance(result, bytes) else result
            if state == "done":
                return Turn.DONE
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Turn.NOT_YET
            # 'wait': N-1 not committed yet; 'busy': a copy of N runs elsewhere. Either way
            # the next commit wakes us; the timeout only bounds a lost wake-up.
            self._redis.blpop([self._wake], timeout=max(remaining, 0.1))

    def ended(self) -> None:
        """The commit script deleted the lease: nothing left to release."""
        self._ended = True

    def release(self) -> None:
        if not self._held:
            return
        self._renewer.drop(self.owner)
        if not self._ended:
            self._release(keys=[self._lease], args=[self.owner])

    def __enter__(self) -> TicketLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
