"""Desk events as signed webhooks for an external helpdesk (``PARLEY_DESK_WEBHOOK_URL``).

Every entry of ``parley:desk:events`` (fields ``type`` and ``data``, a JSON object) is
POSTed to the helpdesk as ``{"id": <entry id>, "type": ..., "data": {...}}`` (compact JSON)
with ``X-Parley-Delivery-Id`` (the entry id: the same on every retry and redelivery),
``X-Parley-Event``, ``X-Parley-Timestamp`` and ``X-Parley-Signature`` (the website
webhook's scheme, ``channels.web.adapter.sign``: ``v1=`` HMAC-SHA256 of
``"<timestamp>.<body>"``; the timestamp is the attempt's, so a receiver's replay window
holds for retries too). Verify with ``channels.web.adapter.verify_signature``.

- **Group.** The gateway replicas read the stream as members of the consumer group
  ``parley-desk-webhooks``, created once at the stream's start ("0") and then kept: events
  produced while every gateway was down are delivered when one comes back, and on the very
  first start the events the stream still holds are delivered too. Events the producer
  trims from the stream before any replica took them are lost to the helpdesk (the
  producer's ``MAXLEN`` bounds how long an outage may last).
- **Outcome.** A 2xx acknowledges the event (``XACK``). Timeouts, connection errors, 408,
  429 and 5xx are retried with exponential backoff and jitter (a ``Retry-After`` is
  honoured, bounded by ``max_retry_after_seconds``) up to ``attempts``; any other status
  (3xx included: redirects are not followed) or the last failed attempt puts the event on
  ``parley:desk:webhooks:dead`` with the reason (one script: ``XADD`` there, then
  ``XACK``) and logs one error line, which never holds the secret, the URL or the body.
- **Who delivers.** Each event goes to one replica. A replica keeps the entries it holds
  fresh (an atomic "still mine? then ``XCLAIM JUSTID``" every third of
  ``claim_idle_seconds``); entries idle longer, those of a replica that died or stopped,
  are taken over with ``XAUTOCLAIM``. An event is POSTed more than once only if a replica
  dies (or stops) between the POST and its ``XACK``, or cannot reach Redis to keep its
  entry fresh for ``claim_idle_seconds``: at least once, and a receiver that drops
  repeated delivery ids sees each event once. Members that hold nothing and have been
  silent for ``forget_after_seconds`` are removed from the group (the gateway names each
  process anew).
- **Order.** A replica delivers one event at a time, in stream order, and moves on only
  once the event is acknowledged or dead (so an event being retried holds back the ones
  after it, up to ``attempts`` × (timeout + backoff)): with one replica that is not
  restarted mid-delivery, the helpdesk receives the events in stream order. Across
  replicas there is no strict order (two replicas deliver concurrently; an event taken
  over from a dead replica comes late). A receiver orders by the delivery id (the stream
  id grows with time) and by ``data.epoch`` per conversation: an event whose epoch is
  below one it has already applied is stale.
- **Supervision.** Reading runs under a supervisor: a Redis outage or a bug is logged, the
  reading restarts with backoff, and ``healthy`` is false meanwhile (not when the helpdesk
  fails: that is the retries' business). ``aclose`` is prompt: it sets a stop flag checked
  between commands (redis-py can swallow a cancellation in mid-command), cancels the task,
  and leaves what this replica held pending for another to take over.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, cast

import aiohttp
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError, ResponseError

from desk.webhook_post import DeskEvent, desk_event, post_event
from desk.webhook_settings import WebhookSettings
from workers.bus import DESK_EVENTS_STREAM

__all__ = ["DEAD_STREAM", "GROUP", "DeskWebhooks", "WebhookMetrics", "webhook_metrics"]

GROUP = "parley-desk-webhooks"
DEAD_STREAM = "parley:desk:webhooks:dead"  # entry, type, data, reason, at
_DEAD_MAXLEN = 100_000
_log = logging.getLogger("parley.desk.webhooks")

# Refresh the entries in ARGV[3..] that are still pending to this consumer (ARGV[2]); the
# ones still ours. XCLAIM alone would also take an entry back from a replica that took it.
_TOUCH = """
local mine = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    mine[#mine + 1] = ARGV[i]
  end
end
return mine
"""
# Dead-letter and acknowledge, unless another replica acknowledged it meanwhile.
_DEAD = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if not p[1] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'entry', ARGV[2], 'type', ARGV[4],
           'data', ARGV[5], 'reason', ARGV[6], 'at', ARGV[7])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""
# Remove members holding nothing and silent for ARGV[3] ms, except ARGV[2]. One script:
# a member cannot receive an entry between the look and the removal (which drops its PEL).
_FORGET = """
local forgotten = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0
      and tonumber(f['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    forgotten = forgotten + 1
  end
end
return forgotten
"""


class WebhookMetrics:
    """Counters by event type; ``webhook_metrics`` declares them on a registry."""

    def __init__(self, delivered: Counter, retried: Counter, dead: Counter) -> None:
        self.delivered, self.retried, self.dead = delivered, retried, dead


def webhook_metrics(registry: CollectorRegistry) -> WebhookMetrics:
    """The webhooks' counters on ``registry`` (the gateway's own, served at /metrics)."""
    return WebhookMetrics(
        Counter("parley_desk_webhooks_delivered", "Desk events the helpdesk accepted (2xx)",
                ["type"], registry=registry),
        Counter("parley_desk_webhooks_retried",
                "Failed desk webhook attempts that will be retried", ["type"],
                registry=registry),
        Counter("parley_desk_webhooks_dead",
                "Desk events given up on and moved to parley:desk:webhooks:dead", ["type"],
                registry=registry))


class DeskWebhooks:
    def __init__(self, client: aioredis.Redis, settings: WebhookSettings,
                 session: aiohttp.ClientSession, consumer: str, *,
                 metrics: WebhookMetrics | None = None, claim_idle_seconds: float = 30.0,
                 claim_interval_seconds: float = 5.0, forget_after_seconds: float = 3600.0,
                 block_ms: int = 1000, restart_backoff: tuple[float, float] = (0.5, 10.0),
                 now: Callable[[], float] = time.time) -> None:
        self._redis, self._settings, self._session = client, settings, session
        self._consumer = consumer
        self._metrics = metrics or webhook_metrics(CollectorRegistry())
        self._claim_idle_ms = max(1, int(claim_idle_seconds * 1000))
        self._claim_interval = claim_interval_seconds
        self._forget_ms = int(forget_after_seconds * 1000)
        self._block_ms = block_ms
        self._restart_backoff = restart_backoff
        self._now = now
        self._touch = client.register_script(_TOUCH)
        self._dead = client.register_script(_DEAD)
        self._forget = client.register_script(_FORGET)
        self._held: set[str] = set()  # entry ids this replica holds, kept fresh
        self._claim_cursor = "0-0"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.healthy = False

    # --- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the group (once: at the stream's start) and start delivering. A Redis
        that cannot be reached now raises here; later outages are the supervisor's."""
        if self._task is not None:
            raise RuntimeError("the desk webhooks are already started")
        await self._ensure_group()
        self._stopping.clear()
        self._task = asyncio.create_task(self._supervise(), name="desk-webhooks")

    async def aclose(self) -> None:
        """Stop at once; an event being delivered stays pending for another replica."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.healthy = False

    async def __aenter__(self) -> DeskWebhooks:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()

    def _should_stop(self) -> bool:
        task = asyncio.current_task()
        return self._stopping.is_set() or (task is not None and task.cancelling() > 0)

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if asked to stop meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass
        return self._should_stop()

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        initial, most = self._restart_backoff
        delay = initial
        while not self._should_stop():
            started = loop.time()
            try:
                await self._run()
            except Exception as error:
                if self._should_stop():
                    break
                self.healthy = False
                if loop.time() - started > 60:
                    delay = initial  # it had been running: not the same failure again
                expected = isinstance(error, RedisError | OSError)
                _log.error("desk webhooks stopped (%s: %s); restarting in %.1f s",
                           type(error).__name__, error, delay,
                           exc_info=None if expected else error)
                if await self._pause(delay):
                    break
                delay = min(delay * 2, most)
        self.healthy = False

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(DESK_EVENTS_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- reading ------------------------------------------------------------------------

    async def _run(self) -> None:
        done = asyncio.Event()
        keeper = asyncio.create_task(self._keep_fresh(done), name="desk-webhooks-keeper")
        try:
            await self._read()
        finally:
            done.set()  # the keeper ends at its next look even if this cancel is lost
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            self._held.clear()

    async def _read(self) -> None:
        await self._ensure_group()
        self.healthy = True
        # After a restart: what this consumer already holds, oldest first.
        own = cast(list[Any], await self._redis.xreadgroup(
            GROUP, self._consumer, {DESK_EVENTS_STREAM: "0"}, count=100))
        await self._handle([item for _, items in own or () for item in items], fresh=False)
        loop = asyncio.get_running_loop()
        next_claim = next_forget = loop.time()
        while not self._should_stop():
            if loop.time() >= next_claim:
                await self._handle(await self._claim_idle(), fresh=False)
                next_claim = loop.time() + self._claim_interval
            if loop.time() >= next_forget:
                await self._forget(keys=[DESK_EVENTS_STREAM],
                                   args=[GROUP, self._consumer, self._forget_ms])
                next_forget = loop.time() + 60.0
            # One at a time: what this replica reads it delivers before it reads again, so
            # the other replicas take the next events meanwhile.
            reply = cast(list[Any], await self._redis.xreadgroup(
                GROUP, self._consumer, {DESK_EVENTS_STREAM: ">"}, count=1,
                block=self._block_ms))
            self.healthy = True
            for _, items in reply or ():
                await self._handle(items, fresh=True)

    async def _claim_idle(self) -> list[Any]:
        """Entries no replica has kept fresh for ``claim_idle_seconds`` (a dead one's)."""
        reply = await self._redis.xautoclaim(DESK_EVENTS_STREAM, GROUP, self._consumer,
                                             min_idle_time=self._claim_idle_ms,
                                             start_id=self._claim_cursor, count=10)
        cursor = reply[0]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        claimed = cast(list[Any], reply[1])
        if claimed:
            _log.warning("took over %d desk events idle for over %.0f s (another replica "
                         "stopped or died)", len(claimed), self._claim_idle_ms / 1000)
        return claimed

    async def _handle(self, items: list[Any], *, fresh: bool) -> None:
        """Deliver ``items`` one by one, skipping those another replica took meanwhile."""
        ids = [_text(entry_id) for entry_id, _ in items]
        self._held.update(ids)
        try:
            for entry_id, (_, fields) in zip(ids, items, strict=True):
                if self._should_stop():
                    return
                if entry_id not in self._held or (not fresh and not await self._mine([entry_id])):
                    continue
                if not fields:  # deleted or trimmed from the stream: nothing to send
                    _log.warning("desk event %s left the stream before it was delivered",
                                 entry_id)
                    await self._ack(entry_id)
                    continue
                await self._deliver(desk_event(entry_id, fields))
                self._held.discard(entry_id)
        finally:
            self._held.difference_update(ids)

    async def _mine(self, ids: Iterable[str]) -> set[str]:
        """Refresh the entries of ``ids`` still pending to this consumer; those ones."""
        mine = await self._touch(keys=[DESK_EVENTS_STREAM],
                                 args=[GROUP, self._consumer, *ids])
        return {_text(i) for i in mine or ()}

    async def _keep_fresh(self, done: asyncio.Event) -> None:
        """Every third of the idle time after which another replica would take them, the
        held entries are refreshed; those another replica took are let go."""
        while not done.is_set():
            held = list(self._held)
            if held:
                try:
                    mine = await self._mine(held)
                except (RedisError, OSError) as exc:
                    _log.warning("cannot keep the held desk events fresh: %s", exc)
                else:
                    self._held.difference_update(set(held) - mine)
            try:
                await asyncio.wait_for(done.wait(), timeout=self._claim_idle_ms / 3000)
            except TimeoutError:
                pass

    # --- delivering ---------------------------------------------------------------------

    async def _deliver(self, event: DeskEvent) -> None:
        """POST with retries, then acknowledge or dead-letter. Returns early, leaving the
        entry pending, when asked to stop or when another replica took it over."""
        reason = event.problem or await self._attempts(event)
        if reason is None:
            return
        if reason:
            await self._give_up(event, reason)
        else:  # delivered: counted before the acknowledgement, which is retried until done
            self._metrics.delivered.labels(event.label).inc()
            await self._ack(event.entry_id)

    async def _attempts(self, event: DeskEvent) -> str | None:
        """'' once delivered; why it is given up on; None when left pending."""
        attempts = max(1, self._settings.attempts)
        for attempt in range(1, attempts + 1):
            if self._should_stop() or event.entry_id not in self._held:
                return None
            result = await post_event(self._session, self._settings, event, self._now)
            if not result.reason or not result.retry:
                return result.reason
            if attempt == attempts:
                break
            delay = self._backoff(attempt, result.retry_after)
            self._metrics.retried.labels(event.label).inc()
            _log.info("desk event %s (%s): %s; attempt %d of %d in %.1f s", event.entry_id,
                      event.label, result.reason, attempt + 1, attempts, delay)
            if await self._pause(delay):
                return None
        return f"{result.reason} (attempt {attempts} of {attempts})"

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        settings = self._settings
        if retry_after is not None:  # the helpdesk said when: that long, bounded
            return min(retry_after, settings.max_retry_after_seconds)
        delay = min(settings.initial_backoff_seconds * 2.0 ** (attempt - 1),
                    settings.max_backoff_seconds)
        return delay * random.uniform(0.5, 1.0)

    async def _ack(self, entry_id: str) -> None:
        await self._until_done(lambda: self._redis.xack(DESK_EVENTS_STREAM, GROUP, entry_id))

    async def _give_up(self, event: DeskEvent, reason: str) -> None:
        args: list[bytes | str | int] = [GROUP, event.entry_id, _DEAD_MAXLEN, event.raw_type,
                                         event.raw_data, reason, repr(self._now())]
        await self._until_done(lambda: self._dead(keys=[DESK_EVENTS_STREAM, DEAD_STREAM],
                                                  args=args))
        self._metrics.dead.labels(event.label).inc()
        _log.error("desk event %s (%s) given up and moved to %s: %s", event.entry_id,
                   event.label, DEAD_STREAM, reason)

    async def _until_done(self, call: Callable[[], Awaitable[Any]]) -> None:
        """Retry a Redis write until done: an acknowledgement must not be lost to a blip
        (an event would be sent again). Asked to stop, it gives up: left pending."""
        delay = 0.1
        while True:
            try:
                await call()
                return
            except (RedisError, OSError) as exc:
                self.healthy = False
                _log.warning("Redis unavailable while acknowledging a desk event: %s", exc)
                if await self._pause(delay):
                    raise asyncio.CancelledError from exc
                delay = min(delay * 2, 5.0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

