"""Delivering one conversation's replies: in order across dispatchers, each once, contained.

The workers' commit numbers each reply of a conversation (``outseq``) and notes its stream
entry in the conversation's ``outq`` (a sorted set by number; ``workers.conversation_store``).
The head of ``outq`` is the reply to send next, whoever holds it: a dispatcher sends an
entry only when it is the head, and its acknowledgement (``XACK``, ``ZREM`` and the new
head, one script) is what lets the next one go — on this gateway or another. So reply N+1
never leaves while N is pending anywhere, and a reply a dead gateway held is sent before
the ones after it, by whoever claims it.

Each ``Lane`` delivers the entries this dispatcher holds for one conversation; it lives
while it holds any. An entry not in ``outq`` (no ``outseq``: a WhatsApp template queued by
the gateway itself) is sent as it comes; a tracked entry whose number is below the head
was delivered meanwhile by another dispatcher and is dropped; a head entry that has left
the stream (trimmed, deleted) is taken off ``outq`` after ``LOST_AFTER`` seconds, with an
error, so it cannot block its conversation.

Every delivery is contained: transient send errors (and Redis errors of a sender) are
retried by ``RetryPolicy``; an entry that can never be sent — undecodable, no sender for
its channel, a permanent send error, or any other exception from the sender (an invalid
header, a bug) — goes to the dead-letter stream with its reason at once; an
acknowledgement that fails after a successful send is retried, never the send.

A bot reply decided before a person took the conversation (its ``epoch`` is older than
the owner's, and the owner is an agent) is acknowledged without being sent: a bot reply
racing a claim never reaches the user (``parley_replies_superseded``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from channels.errors import PermanentSendError, TransientSendError
from channels.models import OutboundMessage, decode_outbound
from gateway.cancellation import raise_if_stop_requested
from gateway.log_throttle import Throttle
from gateway.metrics import GatewayMetrics
from gateway.send_pacing import SendPacer
from integrations.policy import RetryPolicy
from workers.bus import DEAD_LETTER_STREAM, OUTBOUND_STREAM, conversation_key

__all__ = ["GROUP", "Held", "Lane", "LaneRunner", "Sender", "held_entry"]

GROUP = "parley-dispatchers"
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is cut to this
LOST_AFTER = 5.0         # seconds a head entry may be missing before it counts as lost
_log = logging.getLogger("parley.gateway.dispatcher")

# Acknowledge a delivered (or given up) entry and take it off outq: the new head.
_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if KEYS[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
if ARGV[3] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'entry', ARGV[2], 'reason', ARGV[3],
             'conversation_id', ARGV[4], 'sequence', ARGV[5], 'message', ARGV[6])
end
if KEYS[2] == '' then return false end
return redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
"""


class Sender(Protocol):
    async def send(self, message: OutboundMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class Held:
    """An outbound entry this dispatcher holds. ``outseq`` ``None``: not ordered (no
    ``outq`` entry). ``problem``: why it can never be sent, if it cannot."""

    entry_id: bytes
    conversation_id: str
    raw: bytes
    message: OutboundMessage | None
    outseq: int | None
    problem: str = ""


def held_entry(entry_id: bytes, fields: Mapping[bytes, bytes]) -> Held:
    """What the stream entry is; never raises (an undecodable entry is a ``problem``)."""
    raw = fields.get(b"message", b"")
    outseq = fields.get(b"outseq")
    conversation = fields.get(b"conversation", b"").decode(errors="replace")
    try:
        message = decode_outbound(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Held(entry_id, conversation, raw, None, _number(outseq),
                    f"the reply cannot be decoded: {exc}")
    return Held(entry_id, conversation or message.conversation_id, raw, message,
                _number(outseq))


def _number(value: bytes | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class Lane:
    """The entries this dispatcher holds for one conversation, by entry id."""

    def __init__(self) -> None:
        self.entries: dict[bytes, Held] = {}
        self.task: asyncio.Task[None] | None = None


Head = tuple[bytes, float] | None


class LaneRunner:
    """Runs a lane: picks the entry that may go now, delivers it, acknowledges it."""

    def __init__(self, client: aioredis.Redis, senders: Mapping[str, Sender], *,
                 retry: RetryPolicy, metrics: GatewayMetrics, per_channel_limit: int,
                 pacers: Mapping[str, SendPacer], touch: Callable[[bytes], Awaitable[None]],
                 stopping: asyncio.Event) -> None:
        self._redis = client
        self._senders = senders
        self._retry = retry
        self._metrics = metrics
        self._pacers = pacers
        self._touch = touch
        self._stopping = stopping
        self._limits = {name: asyncio.Semaphore(per_channel_limit) for name in senders}
        self._ack = client.register_script(_ACK)
        self._redis_notices = Throttle(every=10.0, clock=time.monotonic)

    async def run(self, cid: str, lane: Lane) -> None:
        """Until the lane holds nothing (or the dispatcher stops while it waits)."""
        loop = asyncio.get_running_loop()
        head: Head = await self._until_done(lambda: self._head(cid))
        polls, waiting_since = 0, loop.time()
        while lane.entries:
            raise_if_stop_requested()
            entry = await self._next(lane, head)
            if entry is not None:
                head = await self._deliver(entry)
                lane.entries.pop(entry.entry_id, None)
                polls, waiting_since = 0, loop.time()
                continue
            if self._stopping.is_set():
                return  # what is left stays pending: claimed by whoever comes next
            # The head is another dispatcher's (or not read yet): poll, 20 ms up to 0.5 s.
            await asyncio.sleep(min(0.5, 0.02 * 2 ** min(polls, 5)))
            polls += 1
            head = await self._until_done(lambda: self._head(cid))
            if head is not None and loop.time() - waiting_since > LOST_AFTER:
                _log.info("conversation %s: %d replies wait for %s, held by another "
                          "dispatcher", cid, len(lane.entries), head[0].decode())
                head = await self._drop_if_lost(cid, head)
                waiting_since = loop.time()

    async def _next(self, lane: Lane, head: Head) -> Held | None:
        """The entry that may go now, dropping those already delivered elsewhere.

        ``head`` may be older than some of the lane's entries (read before they arrived).
        An entry numbered below it left ``outq`` (its head only ever moves up), so it was
        acknowledged by a dispatcher that held it too — claimed from us — and is dropped.
        With ``head`` ``None`` (``outq`` looked empty), ``outq`` itself is asked before an
        entry is dropped: it may have arrived after the look."""
        for entry in sorted(lane.entries.values(), key=lambda e: e.entry_id):
            if entry.outseq is None or (head is not None and entry.entry_id == head[0]):
                return entry
            if head is not None and entry.outseq < head[1]:
                lane.entries.pop(entry.entry_id, None)
            elif head is None:
                if await self._still_to_send(entry):
                    return None  # read the head again
                lane.entries.pop(entry.entry_id, None)
        return None

    async def _still_to_send(self, entry: Held) -> bool:
        outq, member = conversation_key(entry.conversation_id, "outq"), entry.entry_id
        score = await self._until_done(lambda: self._redis.zscore(outq, member))
        return score is not None

    async def _head(self, cid: str) -> Head:
        found = cast(list[Any], await self._redis.zrange(conversation_key(cid, "outq"), 0, 0,
                                                         withscores=True))
        return (found[0][0], float(found[0][1])) if found else None

    async def _drop_if_lost(self, cid: str, head: tuple[bytes, float]) -> Head:
        if await self._until_done(lambda: self._redis.xrange(OUTBOUND_STREAM, head[0],
                                                             head[0])):
            return head
        _log.error("conversation %s: reply %s left the outbound stream before it was "
                   "delivered; going on without it", cid, head[0].decode())
        self._metrics.replies_lost.inc()
        await self._until_done(lambda: self._redis.zrem(conversation_key(cid, "outq"), head[0]))
        after: Head = await self._until_done(lambda: self._head(cid))
        return after

    async def _deliver(self, entry: Held) -> Head:
        """Send (with retries) or give up; either way acknowledge. The new head."""
        if entry.message is not None and await self._superseded(entry.message):
            self._metrics.replies_superseded.inc()
            _log.info("bot reply %s of conversation %s dropped: a person took the "
                      "conversation after it was decided", entry.entry_id.decode(),
                      entry.conversation_id)
            return await self._acknowledge(entry, "")
        reason = entry.problem or await self._send(entry)
        if reason:
            channel = entry.message.channel if entry.message else "unknown"
            self._metrics.dead_lettered.labels(channel).inc()
            _log.error("reply %s of conversation %s dead-lettered: %s",
                       entry.entry_id.decode(), entry.conversation_id, reason)
        else:
            assert entry.message is not None
            self._metrics.delivered.labels(entry.message.channel).inc()
        return await self._acknowledge(entry, reason)

    async def _superseded(self, message: OutboundMessage) -> bool:
        """A bot reply decided under an older epoch than the one at which a person took
        the conversation (``channels.models.OutboundMessage``): it must not arrive."""
        if message.author != "bot":
            return False
        owner = conversation_key(message.conversation_id, "owner")
        state, epoch = await self._until_done(lambda: self._redis.hmget(owner, "state",
                                                                        "epoch"))
        return state == b"agent" and int(epoch or 0) > message.epoch

    async def _send(self, entry: Held) -> str:
        """'' once the channel accepted the reply; else why it is given up on."""
        message = entry.message
        assert message is not None
        sender = self._senders.get(message.channel)
        if sender is None:
            return f"no sender for channel {message.channel!r}"
        reason, attempt = "", 1
        while attempt <= self._retry.attempts:
            raise_if_stop_requested()
            if attempt > 1:
                await self._touch(entry.entry_id)
            await self._pace(entry.entry_id, message)
            try:
                async with self._limits[message.channel]:
                    await sender.send(message)
                return ""
            except PermanentSendError as exc:
                return str(exc)
            except TransientSendError as exc:
                reason, retry_after = str(exc), exc.retry_after
            except (RedisError, OSError) as exc:
                # Our own Redis (the browser chat's outbox), not the recipient: wait for
                # it without spending an attempt.
                raise_if_stop_requested(exc)
                self._warn(f"a {message.channel} send needs Redis: {exc}")
                await asyncio.sleep(1.0)
                continue
            except Exception as exc:  # a reply that can never go (bad header, a bug)
                _log.exception("reply %s of conversation %s cannot be sent",
                               entry.entry_id.decode(), message.conversation_id)
                return f"{type(exc).__name__}: {exc}"
            if attempt < self._retry.attempts:
                self._metrics.send_retries.labels(message.channel).inc()
                await asyncio.sleep(self._backoff(attempt, retry_after))
            attempt += 1
        return reason

    async def _pace(self, entry_id: bytes, message: OutboundMessage) -> None:
        pacer = self._pacers.get(message.channel)
        if pacer is None:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        await pacer.wait(message)
        if loop.time() - started > 1.0:
            await self._touch(entry_id)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the receiver said when: wait that long (bounded)
            return min(retry_after, MAX_RETRY_AFTER)
        delay = self._retry.initial_backoff * 2 ** (attempt - 1)
        return float(min(delay + random.uniform(0, self._retry.jitter), self._retry.max_backoff))

    async def _acknowledge(self, entry: Held, reason: str) -> Head:
        tracked = entry.outseq is not None and entry.conversation_id
        keys = [OUTBOUND_STREAM, conversation_key(entry.conversation_id, "outq")
                if tracked else "", DEAD_LETTER_STREAM]
        sequence = entry.message.sequence if entry.message else 0
        args: list[bytes | str | int] = [GROUP, entry.entry_id, reason, entry.conversation_id,
                                         sequence, entry.raw]
        result = await self._until_done(lambda: self._ack(keys=keys, args=args))
        if not result:
            return None
        return (result[0], float(result[1]))

    async def _until_done(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()``'s result, retrying Redis errors with backoff (an acknowledgement must
        not be lost to a restarting Redis, nor must the lane die of it)."""
        delay = 0.1
        while True:
            try:
                return await call()
            except (RedisError, OSError) as exc:
                raise_if_stop_requested(exc)
                self._warn(f"Redis unavailable while delivering: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _warn(self, line: str) -> None:
        """At most one such line every 10 s, however many lanes wait on Redis."""
        if self._redis_notices.allow("redis") is not None:
            _log.warning("%s; retrying", line)
