"""A conversation's inbox: how an accepted message waits for its turn, whatever befalls
the Celery task that asks for it.

``ENQUEUE`` (run by the gateway's ingress, one atomic step): refuse a duplicate (the
dedupe key) and, where a cap is set, a conversation with ``cap`` messages still unserved;
else take the next sequence number, store the message in the inbox under it, note the
conversation in ``parley:unserved`` (when it last made progress), and push a serve task
unless one is already queued or running (``queued``). The platform is answered after the
script: an acknowledged message is in the inbox. The same step renews the conversation's
expiry on ``seq``, ``served`` and ``inbox`` (``workers.retention``; none while a person
holds it), and a conversation without ``seq`` (new, or expired) starts again from 1, with
whatever remained of ``served``, ``inbox`` and ``attempts`` dropped. It also notes the
conversation under its person (``workers.bus.person_key``, with the same expiry): where an
export or an erasure of the person finds it.

The workers (``workers.tasks``) serve a conversation's inbox in order under its lease and
delete each entry in the commit that serves it; the last one served clears ``queued`` and
takes the conversation off ``parley:unserved``.

``SWEEP`` (run by one gateway at a time, every second): the conversations whose oldest
unserved message has waited longer than ``stale_ms`` without progress, and whose lease is
free — their serve task was lost, failed, or belonged to a worker that died — are returned
so the gateway asks for them again (and their clock is reset, so each is asked once per
``stale_ms``). With a lease held, someone is at work (or its lease has yet to expire).

Keys outside a conversation's hash slot (``parley:unserved``, the Celery queue) and the
lease keys the sweep builds from a conversation id tie these scripts to one Redis (or a
primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec
import redis

from channels.models import InboundMessage
from workers.bus import (
    INBOUND_QUEUE,
    UNSERVED_KEY,
    conversation_key,
    dedupe_key,
    person_key,
    serve_message,
)
from workers.retention import DAY, DEFAULT_DAYS, KEEP_LUA

__all__ = ["DUPLICATE", "ENQUEUE", "FLOODED", "QUEUED_TTL", "SWEEP", "Echo", "enqueue",
           "enqueue_call", "sweep_call"]

DUPLICATE, FLOODED = 0, -1  # ENQUEUE's answers besides a sequence number
QUEUED_TTL = 300  # seconds: a lost serve task stops holding back new ones after this

ENQUEUE = KEEP_LUA + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local cap = tonumber(ARGV[5])
if cap > 0 then
  local waiting = tonumber(redis.call('GET', KEYS[2]) or '0')
                  - tonumber(redis.call('GET', KEYS[3]) or '0')
  if waiting >= cap then return -1 end
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- a new (or expired) conversation numbers from 1: nothing of an old count may remain
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[9])
end
local sequence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[4], sequence, ARGV[2])
if not is_open(redis.call('HGET', KEYS[8], 'state')) then
  keep(false, ARGV[8], {KEYS[2], KEYS[3], KEYS[4]})
end
redis.call('ZADD', KEYS[6], 'NX', ARGV[4], ARGV[6])
if redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[7]) then
  redis.call('LPUSH', KEYS[7], ARGV[3])
end
redis.call('SADD', KEYS[10], ARGV[6])  -- the person's conversations (export, erasure)
redis.call('EXPIRE', KEYS[10], ARGV[8])
if #KEYS == 12 then
  local n = redis.call('INCR', KEYS[11])
  local frame = ARGV[9] .. n .. ARGV[10]
  redis.call('XADD', KEYS[12], 'MAXLEN', ARGV[11], n .. '-1', 'frame', frame)
  redis.call('EXPIRE', KEYS[11], ARGV[12])
  redis.call('EXPIRE', KEYS[12], ARGV[12])
  redis.call('PUBLISH', ARGV[13], frame)
end
return sequence
"""

SWEEP = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local asked = {}
for _, cid in ipairs(stale) do
  if redis.call('EXISTS', 'parley:conv:{' .. cid .. '}:lease') == 0 then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], cid)
    redis.call('SET', 'parley:conv:{' .. cid .. '}:queued', '1', 'EX', ARGV[4])
    asked[#asked + 1] = cid
  end
end
return asked
"""


@dataclass(frozen=True, slots=True)
class Echo:
    """A frame of the accepted message for its conversation's stream of frames (the
    browser chat's history), appended by the same script.

    The frame is ``prefix .. n .. suffix``, ``n`` the next value of ``counter``; the entry
    id in ``stream`` is ``n-1`` (so a reader resumes with ``XRANGE (n``); the stream keeps
    the newest ``size`` entries, and it and ``counter`` expire ``ttl_seconds`` after the
    last one; the frame is published on ``channel``."""

    counter: str
    stream: str
    channel: str
    prefix: bytes
    suffix: bytes
    size: int
    ttl_seconds: int


def enqueue_call(message: InboundMessage, *, now_ms: int, dedupe_ttl: int, cap: int = 0,
                 echo: Echo | None = None, retention_seconds: int = DEFAULT_DAYS * DAY
                 ) -> tuple[list[str], list[bytes | str | int]]:
    """``ENQUEUE``'s keys and arguments for ``message`` (``cap`` 0: no cap). The sequence
    number is the inbox's key, not part of the stored message. ``retention_seconds``: the
    conversation's expiry (``workers.retention``), renewed on ``seq``, ``served`` and
    ``inbox`` unless a person holds the conversation."""
    cid = message.conversation_id
    keys = [dedupe_key(message.channel, message.message_id), conversation_key(cid, "seq"),
            conversation_key(cid, "served"), conversation_key(cid, "inbox"),
            conversation_key(cid, "queued"), UNSERVED_KEY, INBOUND_QUEUE,
            conversation_key(cid, "owner"), conversation_key(cid, "attempts"),
            person_key(message.channel, message.user_id)]
    args: list[bytes | str | int] = [dedupe_ttl, msgspec.json.encode(message), serve_message(cid),
                                     now_ms, cap, cid, QUEUED_TTL, retention_seconds]
    if echo is not None:
        keys += [echo.counter, echo.stream]
        args += [echo.prefix, echo.suffix, echo.size, echo.ttl_seconds, echo.channel]
    return keys, args


def enqueue(client: redis.Redis, message: InboundMessage, *, dedupe_ttl: int = 24 * 3600,
            cap: int = 0, retention_seconds: int = DEFAULT_DAYS * DAY) -> int:
    """``ENQUEUE`` from a synchronous client (the gateway's ingress uses the async one):
    the sequence number, ``DUPLICATE`` or ``FLOODED``. For tools, benchmarks and tests that
    feed workers the way the gateway does."""
    keys, args = enqueue_call(message, now_ms=int(time.time() * 1000), dedupe_ttl=dedupe_ttl,
                              cap=cap, retention_seconds=retention_seconds)
    return int(client.eval(ENQUEUE, len(keys), *keys, *args))


def sweep_call(*, now_ms: int, stale_ms: int, limit: int = 200
               ) -> tuple[list[str], list[int]]:
    """``SWEEP``'s keys and arguments; it returns the conversations to ask for again."""
    return [UNSERVED_KEY], [now_ms, now_ms - stale_ms, limit, QUEUED_TTL]
