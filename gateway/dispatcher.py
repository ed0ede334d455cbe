"""The outbound dispatcher: replies from the workers' stream to the channels.

It reads ``parley:outbound`` as a member of a Redis consumer group and acknowledges an
entry (``XACK``) only after the channel accepted it, so a gateway that dies mid-delivery
leaves its entries pending; every dispatcher periodically claims entries idle longer than
``claim_idle_ms`` (``XAUTOCLAIM``) and delivers them. A conversation's replies go out one
at a time, in stream order. Failed sends are retried by ``RetryPolicy`` (transient errors
only, ``Retry-After`` honoured, bounded, at most ``per_channel_limit`` sends in flight per
channel, each send paced by the channel's ``SendPacer`` if it has one); what still fails
goes to the dead-letter stream ``parley:outbound:dead`` with a log line and the
``parley_replies_dead_lettered`` metric. All delivery tasks belong to one ``TaskGroup``:
``aclose`` stops reading and waits for them (the flush on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from channels.errors import PermanentSendError, TransientSendError
from channels.models import OutboundMessage, decode_outbound
from gateway.metrics import GatewayMetrics
from gateway.send_pacing import SendPacer
from integrations.policy import RetryPolicy
from workers.bus import OUTBOUND_STREAM

__all__ = ["DEAD_LETTER_STREAM", "OutboundDispatcher"]

DEAD_LETTER_STREAM = "parley:outbound:dead"
GROUP = "parley-dispatchers"
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is cut to this
_log = logging.getLogger("parley.gateway.dispatcher")


class Sender(Protocol):
    async def send(self, message: OutboundMessage) -> None: ...


class OutboundDispatcher:
    def __init__(self, client: aioredis.Redis, senders: Mapping[str, Sender], *,
                 consumer: str, retry: RetryPolicy, metrics: GatewayMetrics,
                 claim_idle_ms: int = 30_000, block_ms: int = 1000,
                 per_channel_limit: int = 32,
                 pacers: Mapping[str, SendPacer] | None = None) -> None:
        self._redis = client
        self._senders = senders
        self._pacers = dict(pacers or {})
        self._consumer = consumer
        self._retry = retry
        self._claim_idle_ms = claim_idle_ms
        self._block_ms = block_ms
        self._locks: dict[str, asyncio.Lock] = {}
        # At most this many sends in flight per channel: a slow site is not flooded.
        self._limits = {name: asyncio.Semaphore(per_channel_limit) for name in senders}
        self._metrics = metrics
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._ensure_group()
        self._runner = asyncio.create_task(self._run(), name="outbound-dispatcher")

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(OUTBOUND_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def aclose(self) -> None:
        """Stop reading; wait for deliveries in flight."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as deliveries:
            while not self._stopping.is_set():
                try:
                    await self._read_until_stopped(deliveries)
                except RedisError as exc:
                    # Redis restarted, or the stream/group vanished: wait, re-create, go on.
                    _log.error("outbound stream unavailable (%s); retrying in 1 s", exc)
                    await asyncio.sleep(1)
                    with contextlib.suppress(RedisError):
                        await self._ensure_group()

    async def _read_until_stopped(self, deliveries: asyncio.TaskGroup) -> None:
        await self._schedule(deliveries, await self._own_pending())
        next_claim = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if loop.time() >= next_claim:
                await self._schedule(deliveries, await self._claim_idle())
                next_claim = loop.time() + self._claim_idle_ms / 2000
            entries = cast(list[Any], await self._redis.xreadgroup(
                GROUP, self._consumer, {OUTBOUND_STREAM: ">"}, count=100,
                block=self._block_ms))
            for _, items in entries:
                await self._schedule(deliveries, items)

    async def _own_pending(self) -> list[Any]:
        entries = cast(list[Any], await self._redis.xreadgroup(
            GROUP, self._consumer, {OUTBOUND_STREAM: "0"}, count=1000))
        return [item for _, items in entries for item in items]

    async def _claim_idle(self) -> list[Any]:
        result = await self._redis.xautoclaim(OUTBOUND_STREAM, GROUP, self._consumer,
                                              min_idle_time=self._claim_idle_ms, count=100)
        return list(result[1])

    async def _schedule(self, group: asyncio.TaskGroup, items: list[Any]) -> None:
        for entry_id, fields in items:
            if not fields:  # deleted meanwhile
                await self._redis.xack(OUTBOUND_STREAM, GROUP, entry_id)
                continue
            message = decode_outbound(fields[b"message"])
            lock = self._locks.setdefault(message.conversation_id, asyncio.Lock())
            group.create_task(self._deliver_in_turn(lock, entry_id, message))

    async def _deliver_in_turn(self, lock: asyncio.Lock, entry_id: bytes,
                               message: OutboundMessage) -> None:
        loop = asyncio.get_running_loop()
        queued = loop.time()
        async with lock:  # FIFO: a conversation's replies leave in stream order
            if loop.time() - queued > 1.0:
                await self._touch(entry_id)
            await self._deliver(entry_id, message)

    async def _touch(self, entry_id: bytes) -> None:
        """Reset the entry's idle time: this live dispatcher is still on it, and another
        one's ``XAUTOCLAIM`` must not take it over and deliver it a second time."""
        await self._redis.xclaim(OUTBOUND_STREAM, GROUP, self._consumer, min_idle_time=0,
                                 message_ids=[entry_id], justid=True)

    async def _deliver(self, entry_id: bytes, message: OutboundMessage) -> None:
        sender = self._senders.get(message.channel)
        reason = f"no sender for channel {message.channel!r}"
        for attempt in range(1, self._retry.attempts + 1):
            if sender is None:
                break
            if attempt > 1:
                await self._touch(entry_id)
            await self._pace(entry_id, message)
            try:
                async with self._limits[message.channel]:
                    await sender.send(message)
            except PermanentSendError as exc:
                reason = str(exc)
                break
            except TransientSendError as exc:
                reason = str(exc)
                if attempt < self._retry.attempts:
                    self._metrics.send_retries.labels(message.channel).inc()
                    await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                continue
            await self._redis.xack(OUTBOUND_STREAM, GROUP, entry_id)
            self._metrics.delivered.labels(message.channel).inc()
            return
        await self._dead_letter(entry_id, message, reason)

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

    async def _dead_letter(self, entry_id: bytes, message: OutboundMessage, reason: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(DEAD_LETTER_STREAM, {"entry": entry_id, "reason": reason,
                                           "conversation_id": message.conversation_id,
                                           "sequence": message.sequence})
            pipe.xack(OUTBOUND_STREAM, GROUP, entry_id)
            await pipe.execute()
        self._metrics.dead_lettered.labels(message.channel).inc()
        _log.error("reply %s of conversation %s dead-lettered: %s", entry_id.decode(),
                   message.conversation_id, reason)
