"""The outbound dispatcher: replies from the workers' stream to the channels.

It reads ``parley:outbound`` as a member of a Redis consumer group and hands each entry to
its conversation's lane (``gateway.delivery``: in order across gateways, each once,
acknowledged only after the channel accepted it or it was given up on). Around that:

- **Supervision.** The reading runs under a supervisor: whatever stops it (Redis gone, a
  stale pooled connection, a bug) is logged, counted (``parley_dispatcher_restarts``) and
  the reading restarted with backoff; ``healthy`` is false meanwhile (``/readyz`` says
  so). Lanes are separate tasks, so neither a failed delivery nor a failed read takes
  the other down.
- **Who holds what.** Each dispatcher keeps a heartbeat key (``alive_seconds``). Every
  ``claim_interval`` seconds it takes over at once the pending entries of group members
  whose heartbeat has expired (a killed gateway: its conversations wait at most about
  ``alive_seconds``), and, as a backstop, entries idle longer than ``claim_idle_ms``
  (``XAUTOCLAIM``). It keeps the entries it holds from looking idle (``XCLAIM JUSTID``
  every third of ``claim_idle_ms``) and never takes its own held entries a second time.
- **Stopping.** ``aclose`` stops reading, lets the lanes deliver what they hold for up to
  ``flush_seconds``, then gives up the rest (left pending) and deletes its heartbeat so
  another gateway takes them over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from gateway.delivery import GROUP, Lane, LaneRunner, Sender, held_entry
from gateway.metrics import GatewayMetrics
from gateway.send_pacing import SendPacer
from integrations.policy import RetryPolicy
from workers.bus import DEAD_LETTER_STREAM, OUTBOUND_STREAM

__all__ = ["DEAD_LETTER_STREAM", "GROUP", "OutboundDispatcher", "Sender", "alive_key"]

_log = logging.getLogger("parley.gateway.dispatcher")


def alive_key(consumer: str) -> str:
    return f"parley:dispatchers:alive:{consumer}"


class OutboundDispatcher:
    def __init__(self, client: aioredis.Redis, senders: Mapping[str, Sender], *,
                 consumer: str, retry: RetryPolicy, metrics: GatewayMetrics,
                 claim_idle_ms: int = 30_000, block_ms: int = 1000,
                 per_channel_limit: int = 32,
                 pacers: Mapping[str, SendPacer] | None = None,
                 alive_seconds: float = 6.0, claim_interval: float = 2.0,
                 flush_seconds: float = 10.0) -> None:
        self._redis = client
        self._consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._block_ms = block_ms
        self._metrics = metrics
        self._alive_ms = int(alive_seconds * 1000)
        self._claim_interval = claim_interval
        self._flush_seconds = flush_seconds
        self._stopping = asyncio.Event()
        self._lanes: dict[str, Lane] = {}
        self._held: set[bytes] = set()
        self._runner = LaneRunner(client, senders, retry=retry, metrics=metrics,
                                  per_channel_limit=per_channel_limit, pacers=dict(pacers or {}),
                                  touch=self._touch, stopping=self._stopping)
        self._supervisor: asyncio.Task[None] | None = None
        self.healthy = False

    # --- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._ensure_group()
        await self._beat()
        self._supervisor = asyncio.create_task(self._supervise(), name="outbound-dispatcher")

    async def aclose(self) -> None:
        """Stop reading; let the lanes finish for up to ``flush_seconds``; hand over."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        lanes = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if lanes:
            _, late = await asyncio.wait(lanes, timeout=self._flush_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.healthy = False
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(alive_key(self._consumer))

    async def _supervise(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._read())
                    group.create_task(self._keep_alive())
                    group.create_task(self._claim())
                delay = 0.5
            except* Exception as errors:
                self._stopped(errors.exceptions[0], delay)
            else:
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            with contextlib.suppress(RedisError, OSError):
                await self._ensure_group()

    def _stopped(self, error: BaseException, delay: float) -> None:
        self.healthy = False
        self._metrics.dispatcher_restarts.inc()
        expected = isinstance(error, RedisError | OSError)
        _log.error("outbound dispatcher stopped (%s: %s); restarting in %.1f s",
                   type(error).__name__, error, delay, exc_info=None if expected else error)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(OUTBOUND_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- reading ------------------------------------------------------------------------

    async def _read(self) -> None:
        await self._schedule(await self._own_pending())  # after a restart: what we already hold
        while not self._stopping.is_set():
            entries = cast(list[Any], await self._redis.xreadgroup(
                GROUP, self._consumer, {OUTBOUND_STREAM: ">"}, count=100,
                block=self._block_ms))
            self.healthy = True
            for _, items in entries or ():
                await self._schedule(items)

    async def _own_pending(self) -> list[Any]:
        entries = cast(list[Any], await self._redis.xreadgroup(
            GROUP, self._consumer, {OUTBOUND_STREAM: "0"}, count=1000))
        return [item for _, items in entries or () for item in items]

    async def _schedule(self, items: list[Any]) -> None:
        deleted = []
        for entry_id, fields in items:
            if entry_id in self._held:
                continue  # ours already (a claim or a resync saw it again)
            if not fields:  # deleted from the stream meanwhile: nothing to send
                deleted.append(entry_id)
                continue
            entry = held_entry(entry_id, fields)
            lane = self._lanes.setdefault(entry.conversation_id, Lane())
            lane.entries[entry_id] = entry
            self._held.add(entry_id)
            if lane.task is None:
                lane.task = asyncio.create_task(self._run_lane(entry.conversation_id, lane),
                                                name=f"lane {entry.conversation_id}")
        if deleted:
            await self._redis.xack(OUTBOUND_STREAM, GROUP, *deleted)

    async def _run_lane(self, cid: str, lane: Lane) -> None:
        try:
            await self._runner.run(cid, lane)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug: its entries stay pending, found again by the resync
            _log.exception("delivery lane of conversation %s failed", cid)
        finally:
            self._held.difference_update(lane.entries)
            lane.entries.clear()
            if self._lanes.get(cid) is lane:
                del self._lanes[cid]

    # --- who holds what -----------------------------------------------------------------

    async def _beat(self) -> None:
        await self._redis.set(alive_key(self._consumer), "1", px=self._alive_ms)

    async def _keep_alive(self) -> None:
        """The heartbeat, and the touch of every held entry every third of the idle time
        after which another dispatcher would take it."""
        loop = asyncio.get_running_loop()
        next_touch = loop.time()
        while not self._stopping.is_set():
            await self._beat()
            if loop.time() >= next_touch:
                held: list[Any] = list(self._held)
                for start in range(0, len(held), 500):
                    await self._redis.xclaim(OUTBOUND_STREAM, GROUP, self._consumer,
                                             min_idle_time=0, message_ids=held[start:start + 500],
                                             justid=True)
                next_touch = loop.time() + self._claim_idle_ms / 3000
            await asyncio.sleep(self._alive_ms / 3000)

    async def _touch(self, entry_id: bytes) -> None:
        """Reset one entry's idle time (a long retry or pacing wait is still ours)."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.xclaim(OUTBOUND_STREAM, GROUP, self._consumer, min_idle_time=0,
                                     message_ids=[cast(Any, entry_id)], justid=True)

    async def _claim(self) -> None:
        rounds = 0
        while not self._stopping.is_set():
            await self._take_over_the_dead()
            claimed = await self._redis.xautoclaim(OUTBOUND_STREAM, GROUP, self._consumer,
                                                   min_idle_time=self._claim_idle_ms, count=100)
            fresh = [item for item in claimed[1] if item[0] not in self._held]
            if fresh:
                self._metrics.replies_claimed.labels("idle").inc(len(fresh))
                await self._schedule(fresh)
            rounds += 1
            if rounds % 10 == 0:  # entries ours in Redis but in no lane (a lane's bug)
                await self._schedule(await self._own_pending())
            await asyncio.sleep(self._claim_interval)

    async def _take_over_the_dead(self) -> None:
        """Claim the pending entries of members without a heartbeat; forget the members."""
        summary = await self._redis.xpending(OUTBOUND_STREAM, GROUP)
        for member in summary.get("consumers") or ():
            name = member["name"].decode() if isinstance(member["name"], bytes) \
                else str(member["name"])
            if name == self._consumer or await self._redis.exists(alive_key(name)):
                continue
            for _ in range(100):  # bounded: 10,000 entries a round
                pending = await self._redis.xpending_range(
                    OUTBOUND_STREAM, GROUP, min="-", max="+", count=100, consumername=name)
                if not pending:
                    break
                ids: list[Any] = [p["message_id"] for p in pending]
                items = cast(list[Any], await self._redis.xclaim(
                    OUTBOUND_STREAM, GROUP, self._consumer, min_idle_time=0, message_ids=ids))
                self._metrics.replies_claimed.labels("dead_gateway").inc(len(ids))
                _log.warning("took over %d pending replies of %s (no heartbeat)", len(ids), name)
                # An entry deleted from the stream comes back without fields, or not at all
                # (then XCLAIM dropped it from the pending list itself).
                await self._schedule([(i, f or {}) for i, f in items])
                if not items:
                    break
            else:
                continue  # more next round; the member stays until its list is empty
            await self._redis.xgroup_delconsumer(OUTBOUND_STREAM, GROUP, name)
