"""The inbox sweep: conversations that stopped making progress are asked for again.

A person's message waits in its conversation's inbox until a worker serves it
(``workers.inbox``); the serve task that asks for it can still be lost — its worker killed,
the task failed by a Redis outage, kombu's race on a dying connection. Every
``interval`` seconds one gateway (whichever takes the round's lock) runs
``workers.inbox.SWEEP``: each conversation whose messages have waited ``stale_seconds``
without progress and whose lease is free gets a new serve task. A stalled conversation is
thus served again within ``stale_seconds`` + ``interval`` of its lease expiring, and a
healthy one is never touched (its commits keep its clock fresh).

A round is skipped while the workers are behind — the oldest serve task in the queue has
waited longer than ``stale_seconds`` — because then conversations are slow, not lost: the
tasks that will serve them are in the queue, and asking again would only lengthen it
(under a backlog every conversation looks stale, and each round would add one task per
conversation). A lost task is found again once the workers have caught up.

The loop is supervised like the dispatcher: an error is logged once per outage, the round
retried after ``interval``; ``healthy`` is what ``/readyz`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.cancellation import raise_if_stop_requested, stop_requested
from gateway.log_throttle import Throttle
from workers.bus import INBOUND_QUEUE, queued_since, serve_message
from workers.inbox import SWEEP, sweep_call

__all__ = ["InboxSweeper"]

_log = logging.getLogger("parley.gateway.sweeper")
_LOCK = "parley:sweep:lock"


class InboxSweeper:
    def __init__(self, client: aioredis.Redis, *, owner: str, interval: float = 1.0,
                 stale_seconds: float = 4.0) -> None:
        self._redis = client
        self._owner = owner
        self._interval = interval
        self._stale_ms = int(stale_seconds * 1000)
        self._sweep = client.register_script(SWEEP)
        self._task: asyncio.Task[None] | None = None
        self.healthy = True
        self._backlog_notices = Throttle(every=60.0)
        self.asked = 0  # conversations asked for again, in all

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="inbox-sweeper")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        failing = False
        while not stop_requested():
            try:
                await self.sweep_once()
                if failing:
                    _log.warning("inbox sweep works again")
                failing, self.healthy = False, True
            except (RedisError, OSError) as exc:
                raise_if_stop_requested(exc)
                if not failing:
                    _log.error("inbox sweep failed (%s); retrying every %.0f s", exc,
                               self._interval)
                failing, self.healthy = True, False
            await asyncio.sleep(self._interval)

    async def sweep_once(self) -> list[str]:
        """One round, if this gateway takes the round's lock: the conversations asked for."""
        round_ms = max(1, int(self._interval * 1000) - 50)
        if not await self._redis.set(_LOCK, self._owner, nx=True, px=round_ms):
            return []
        now = time.time()
        oldest = queued_since(await self._redis.lindex(INBOUND_QUEUE, -1))  # next to go
        if oldest is not None and (now - oldest) * 1000 > self._stale_ms:
            self._note_backlog(now - oldest)
            return []
        keys, args = sweep_call(now_ms=int(now * 1000), stale_ms=self._stale_ms)
        stale = cast(list[Any], await self._sweep(keys=keys, args=args))
        conversations = [c.decode() if isinstance(c, bytes) else str(c) for c in stale]
        if conversations:
            await self._redis.lpush(INBOUND_QUEUE, *(serve_message(c) for c in conversations))
            self.asked += len(conversations)
            _log.info("asked again for %d stalled conversation(s): %s", len(conversations),
                      ", ".join(conversations[:5]))
        return conversations

    def _note_backlog(self, behind: float) -> None:
        if self._backlog_notices.allow("backlog") is not None:
            _log.warning("the workers are %.0f s behind (the oldest serve task waits that "
                         "long): the inbox sweep waits for them", behind)
