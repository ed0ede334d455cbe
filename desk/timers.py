"""The desk's clocks: first-response targets (SLA) and queue timeouts.

Each open handoff has its next deadline in ``parley:desk:deadlines`` (set by the workers'
commit when it is requested, moved by a transfer, dropped by a claim or a close). Once a
second, one replica at a time (a lock key with an expiry, renewed while it runs) takes
the handoffs whose deadline has passed:

- the first-response target passed without an agent reply: the handoff is marked
  breached, ``sla.breached`` goes to the desk (the team's supervisors see it) and
  ``parley_handoff_sla_breaches_total{team}`` counts it, once;
- the queue timeout passed and nobody claimed it: the bot resumes (``utter_handoff_timeout``,
  through the conversation's inbox) and the handoff stays as an offline ticket
  (``desk.ownership``).

The queue-length gauges are refreshed on the same beat, and the auto-assigning teams'
waiting handoffs are given to their online agents (``desk.assignment``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.assignment import AutoAssigner
from desk.background import BackgroundLoop
from desk.events import add_event
from desk.handoffs import HandoffReader, Record, number
from desk.metrics import DeskMetrics
from desk.ownership import DeskOperations
from workers.bus import conversation_key, desk_key

__all__ = ["DeskTimers"]

_log = logging.getLogger("parley.desk.timers")
_LOCK = desk_key("timers", "lock")
_LOCK_MS = 5000


class DeskTimers:
    def __init__(self, client: aioredis.Redis, *, reader: HandoffReader, ops: DeskOperations,
                 metrics: DeskMetrics, assigner: AutoAssigner | None = None,
                 interval: float = 1.0) -> None:
        self._redis = client
        self._assigner = assigner
        self._reader = reader
        self._ops = ops
        self._metrics = metrics
        self._interval = interval
        self._owner = uuid.uuid4().hex
        self._loop = BackgroundLoop("desk-timers")
        self._stopping = self._loop.stopping

    async def start(self) -> None:
        self._loop.start(self._run)

    async def aclose(self) -> None:
        await self._loop.stop()
        with contextlib.suppress(RedisError, OSError):
            if await self._redis.get(_LOCK) == self._owner.encode():
                await self._redis.delete(_LOCK)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._gauges()
                if await self._lead():
                    await self.tick()
                    if self._assigner is not None:
                        await self._assigner.assign()
            except (RedisError, OSError) as exc:
                _log.warning("desk timers: Redis unavailable (%s); retrying", exc)
            except Exception:  # a bug must not stop the clocks for good
                _log.exception("desk timers: a round failed")
            await asyncio.sleep(self._interval)

    async def _lead(self) -> bool:
        if await self._redis.set(_LOCK, self._owner, nx=True, px=_LOCK_MS):
            return True
        if await self._redis.get(_LOCK) == self._owner.encode():
            await self._redis.pexpire(_LOCK, _LOCK_MS)
            return True
        return False

    async def tick(self, now: float | None = None) -> int:
        """Handle every deadline due by ``now``; how many handoffs were looked at."""
        now = time.time() if now is None else now
        due = await self._redis.zrangebyscore(desk_key("deadlines"), "-inf", int(now * 1000),
                                              start=0, num=200)
        for raw in due:
            handoff_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            record = await self._reader.record(handoff_id)
            if record is None or record.get("status") not in ("waiting", "offline"):
                await self._redis.zrem(desk_key("deadlines"), handoff_id)
                continue
            await self._due(record, now)
        return len(due)

    async def _due(self, record: Record, now: float) -> None:
        handoff_id, team = record["id"], record.get("team", "")
        sla = number(record.get("sla_deadline"))
        if sla is not None and sla <= now and record.get("status") == "waiting" and \
                not record.get("first_reply_at") and \
                await self._redis.hsetnx(desk_key("handoff", handoff_id), "sla_breached", "1"):
            await self._breached(record, sla)
        timeout = number(record.get("timeout_at"))
        if timeout is not None and timeout <= now and record.get("timed_out_at") is None:
            result = await self._ops.end(record, None, op="timeout")
            if result.kind == "ended":
                self._metrics.timeouts.labels(team).inc()
            await self._redis.zrem(desk_key("deadlines"), handoff_id)
            return
        later = [t for t in (sla, timeout) if t is not None and t > now]
        if later:
            await self._redis.zadd(desk_key("deadlines"), {handoff_id: int(min(later) * 1000)})
        else:
            await self._redis.zrem(desk_key("deadlines"), handoff_id)

    async def _breached(self, record: Record, sla: float) -> None:
        team = record.get("team", "")
        self._metrics.sla_breaches.labels(team).inc()
        epoch = await self._redis.hget(conversation_key(record["conversation_id"], "owner"),
                                       "epoch")
        target = sla - float(record.get("requested_at") or sla)
        await add_event(self._redis, "sla.breached", conversation_id=record["conversation_id"],
                        handoff_id=record["id"], team=team, epoch=int(epoch or 0),
                        target_seconds=round(target, 3))
        _log.warning("handoff %s (team %s) not answered within its %.0f s target",
                     record["id"], team, target)

    async def _gauges(self) -> None:
        teams = await self._reader.teams()
        for team in teams:
            self._metrics.queue_length.labels(team).set(
                await self._redis.zcard(desk_key("queue", team)))

