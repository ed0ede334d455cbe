"""The gateway's background loops stop when asked, even when the cancellation is lost on
the way: redis-py 8.1 can return a command's result to a task cancelled meanwhile (found
as a ``parley run`` that hung on a failed bind, 1 shutdown in a few hundred under load;
``gateway/cancellation.py``). Each test makes one round of the loop swallow its
cancellation as redis-py does, on a real Redis, and the loop must still end."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aioredis

from gateway.cancellation import stop_requested
from gateway.sweeper import InboxSweeper
from gateway.web.hub import LiveHub
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401


async def _swallow_one_cancellation(entered: asyncio.Event) -> None:
    """Wait as a Redis command in flight would, and return normally if cancelled."""
    entered.set()
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        return


class _LossySweeper(InboxSweeper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered = asyncio.Event()
        self.rounds = 0

    async def sweep_once(self) -> list[str]:
        self.rounds += 1
        if self.rounds == 2:  # a real round first, then one that loses the cancel
            await _swallow_one_cancellation(self.entered)
            return []
        return await super().sweep_once()


def test_the_inbox_sweep_stops_though_its_cancellation_was_lost(
        clean_redis: redis.Redis) -> None:
    async def scenario() -> int:
        client = aioredis.Redis.from_url(REDIS_URL)
        sweeper = _LossySweeper(client, owner="test", interval=0.05)
        try:
            await sweeper.start()
            await asyncio.wait_for(sweeper.entered.wait(), 5)
            await asyncio.wait_for(sweeper.aclose(), 5)  # hung for ever before
            return sweeper.rounds
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == 2  # no round after the stop


class _LossyHub(LiveHub):
    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__(client)
        self.entered = asyncio.Event()
        self.connects = 0

    async def _connect(self) -> None:
        self.connects += 1
        await super()._connect()
        if self.connects == 1:
            await _swallow_one_cancellation(self.entered)
            raise redis.ConnectionError("the connection the cancellation broke")


def test_the_live_fan_out_stops_though_its_cancellation_was_lost(
        clean_redis: redis.Redis) -> None:
    async def scenario() -> int:
        client = aioredis.Redis.from_url(REDIS_URL)
        hub = _LossyHub(client)
        try:
            await hub.start()
            await asyncio.wait_for(hub.entered.wait(), 5)
            await asyncio.wait_for(hub.aclose(), 5)
            return hub.connects
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == 1  # it did not reconnect after the stop


def test_stop_requested_is_the_tasks_own_count() -> None:
    async def scenario() -> tuple[bool, bool]:
        seen: list[bool] = []

        async def lossy() -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass
            seen.append(stop_requested())

        before = stop_requested()
        task = asyncio.create_task(lossy())
        await asyncio.sleep(0)
        task.cancel()
        await task
        return before, seen[0]

    assert asyncio.run(scenario()) == (False, True)
