"""``ConversationLease``: one worker at a time serves a conversation, in sequence order.

The gateway stores each accepted message in its conversation's inbox under the next
sequence number (``workers.inbox``). A serve task takes the conversation's lease — a key
with an expiry, renewed by one ``LeaseRenewer`` thread per process while it works — and
serves the inbox from ``served + 1`` on, one turn after another, each ending in a commit
(``workers.conversation_store``) that hands it the next entry. Taking the lease reads, in
the same round trip, the first entry to serve, the conversation's state and how many
times that entry was attempted (a message that kills every worker serving it is given up
on after a few, not retried forever).

A task that finds the lease taken does nothing: the holder serves every entry up to the
last number given, as its final commit only lets go when nothing is left (atomically with
the check, so no message slips between). A holder that dies leaves the lease to expire,
after which the gateway's sweep asks for the conversation again. Nobody waits for a turn
and nobody polls.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import redis

from brain.dialogue.handoff import BOT, Ownership
from workers.bus import UNSERVED_KEY, conversation_key, redis_text

__all__ = ["BATCH", "MAX_ATTEMPTS", "ConversationLease", "Entry", "LeaseRenewer", "Taken",
           "ownership"]

BATCH = 20          # turns one task serves before the conversation goes to the queue's end
MAX_ATTEMPTS = 3    # serves of one entry before it is given up on

# Take the lease; say what there is to serve.
_TAKE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
local served = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if served >= last then
  redis.call('DEL', KEYS[1], KEYS[6])
  redis.call('ZREM', KEYS[8], ARGV[3])
  return {'idle'}
end
local n = served + 1
local attempts = redis.call('HINCRBY', KEYS[7], n, 1)
if attempts == 1 then  -- a new count expires with the sequence (workers.retention)
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[7], ttl) end
end
local owner = redis.call('HMGET', KEYS[9], 'state', 'epoch', 'handoff', 'offline', 'team')
return {'serve', n, redis.call('HGET', KEYS[5], n) or false,
        redis.call('GET', KEYS[4]) or false, attempts,
        owner[1] or false, owner[2] or false, owner[3] or false, owner[4] or false,
        owner[5] or false}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """An inbox entry to serve: its number, the stored message (``None`` if it is missing)
    and the how-manieth attempt at serving it this is."""

    sequence: int
    message: bytes | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Taken:
    """What ``ConversationLease.take`` found: ``serve`` (then ``entry``, ``state``, the
    stored tracker, and ``owner``, who holds the conversation), ``busy`` (another task
    holds the lease) or ``idle`` (all served)."""

    kind: Literal["serve", "busy", "idle"]
    entry: Entry | None = None
    state: bytes | None = None
    owner: Ownership = BOT


_STATES = {"bot", "queued", "agent", "closed"}


def ownership(values: list[bytes | str | None]) -> Ownership:
    """The owner hash's ``state``, ``epoch``, ``handoff``, ``offline``, ``team`` as a
    script read them (missing fields: the bot's, at epoch 0)."""
    state, epoch, handoff, offline, team = (redis_text(v) if v else "" for v in values)
    return Ownership(state if state in _STATES else "bot",  # type: ignore[arg-type]
                     int(epoch) if epoch.isdigit() else 0, handoff, offline == "1", team)


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
                except (redis.RedisError, OSError, ValueError):
                    # retried on the next round; the lease outlives a miss (ValueError,
                    # OSError: the client was closed under this thread, as at shutdown)
                    pass


class ConversationLease:
    """Context manager around one serve task's hold on ``conversation_id``."""

    def __init__(self, client: redis.Redis, conversation_id: str, *,
                 renewer: LeaseRenewer) -> None:
        self._redis = client
        self.conversation_id = conversation_id
        self.key = conversation_key(conversation_id, "lease")
        self._renewer = renewer
        self.owner = uuid.uuid4().hex
        self._held = False
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    def take(self) -> Taken:
        cid = self.conversation_id
        keys = [self.key, conversation_key(cid, "served"), conversation_key(cid, "seq"),
                conversation_key(cid, "tracker"), conversation_key(cid, "inbox"),
                conversation_key(cid, "queued"), conversation_key(cid, "attempts"),
                UNSERVED_KEY, conversation_key(cid, "owner")]
        result = self._take(keys=keys, args=[self.owner, self._renewer.lease_ms, cid])
        kind = redis_text(result[0])
        if kind != "serve":
            return Taken("busy" if kind == "busy" else "idle")
        self._held = True
        self._renewer.hold(self.key, self.owner)
        entry = Entry(int(result[1]), result[2], int(result[4]))
        return Taken("serve", entry, result[3], ownership(list(result[5:10])))

    def ended(self) -> None:
        """The commit script let the lease go (or found it lost): nothing to release."""
        self._renewer.drop(self.owner)
        self._held = False

    def release(self) -> None:
        if not self._held:
            return
        self._renewer.drop(self.owner)
        self._held = False
        self._release(keys=[self.key], args=[self.owner])

    def __enter__(self) -> ConversationLease:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.release()
        except redis.RedisError:
            pass  # it expires by itself; raising here would hide the original error

