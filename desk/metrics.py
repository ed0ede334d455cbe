"""The desk's Prometheus metrics, on the gateway's registry (served at ``/metrics``).

Counts that several replicas could each see (every replica reads the desk's event
stream) are counted once: by the replica whose consumer group member read the event
(``EventCounter``, group ``parley-desk-metrics``), or by the replica that did the
operation (waits, first replies, hand-backs), or by the one replica running the timers
(SLA breaches, timeouts). Sum them across replicas. Queue lengths are read from Redis by
each replica when scraped: the same value everywhere (take the max, not the sum).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError

from desk.background import BackgroundLoop
from desk.events import ensure_group
from workers.bus import DESK_EVENTS_STREAM

__all__ = ["DeskMetrics", "EventCounter"]

_log = logging.getLogger("parley.desk.metrics")
_WAIT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400)
_GROUP = "parley-desk-metrics"


@dataclass
class DeskMetrics:
    registry: CollectorRegistry

    def __post_init__(self) -> None:
        r = self.registry
        self.sla_breaches = Counter("parley_handoff_sla_breaches",
                                    "Handoffs not answered within their team's first-response "
                                    "target", ["team"], registry=r)
        self.requested = Counter("parley_handoffs_requested", "Handoffs requested, by reason",
                                 ["team", "reason"], registry=r)
        self.offline_tickets = Counter("parley_handoff_offline_tickets",
                                       "Handoffs asked for while nobody of the team was there",
                                       ["team"], registry=r)
        self.handbacks = Counter("parley_handoff_handbacks", "Conversations handed back",
                                 ["team"], registry=r)
        self.timeouts = Counter("parley_handoff_timeouts",
                                "Handoffs nobody claimed within the queue timeout", ["team"],
                                registry=r)
        self.waits = Histogram("parley_handoff_wait_seconds",
                               "Time from a handoff request to its claim", ["team"],
                               buckets=_WAIT_BUCKETS, registry=r)
        self.first_reply = Histogram("parley_handoff_first_reply_seconds",
                                     "Time from a handoff request to the first agent reply",
                                     ["team"], buckets=_WAIT_BUCKETS, registry=r)
        self.queue_length = Gauge("parley_handoff_queue_length",
                                  "Handoffs waiting in each team's queue", ["team"], registry=r)


class EventCounter:
    """Counts requested handoffs (and offline tickets) from the event stream, each once
    across replicas."""

    def __init__(self, client: aioredis.Redis, metrics: DeskMetrics, *, consumer: str) -> None:
        self._redis = client
        self._metrics = metrics
        self._consumer = consumer
        self._loop = BackgroundLoop("desk-event-counter")
        self._stopping = self._loop.stopping

    async def start(self) -> None:
        self._loop.start(self._run)

    async def aclose(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await ensure_group(self._redis, _GROUP, start="$")
                await self._read()
            except (RedisError, OSError) as exc:
                _log.warning("desk event counter: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _read(self) -> None:
        while not self._stopping.is_set():
            found = cast(list[Any], await self._redis.xreadgroup(
                _GROUP, self._consumer, {DESK_EVENTS_STREAM: ">"}, count=200, block=1000))
            for _, items in found or ():
                ids = []
                for entry_id, fields in items:
                    ids.append(entry_id)
                    self._count(fields)
                if ids:
                    await self._redis.xack(DESK_EVENTS_STREAM, _GROUP, *ids)

    def _count(self, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"type") != b"handoff.requested":
            return
        try:
            data = json.loads(fields.get(b"data", b"{}"))
        except ValueError:
            return
        team = str(data.get("team", ""))
        self._metrics.requested.labels(team, str(data.get("reason", ""))[:60]).inc()
        if data.get("status") == "offline":
            self._metrics.offline_tickets.labels(team).inc()
