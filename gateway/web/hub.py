"""Live fan-out to the browsers connected to this gateway replica.

One Redis pub/sub connection per replica. A conversation's live channel is subscribed
while at least one of its browsers (a WebSocket or a waiting long-poll) is connected here;
frames published by the outbox (replies) and by workers (typing) are put on the queue of
each of those listeners. When the pub/sub connection breaks, the hub reconnects,
re-subscribes, and tells every listener to re-read the outbox (``RESYNC``), since frames
published meanwhile were not received. The listener task is owned: ``aclose`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.cancellation import raise_if_stop_requested, stop_requested
from workers.bus import live_channel

__all__ = ["RESYNC", "Listener", "LiveHub"]

RESYNC = b""  # put on a listener's queue: frames may have been missed, read the outbox
_IDLE_CHANNEL = "parley:live:_hub"  # keeps the connection subscribed when nobody listens
_log = logging.getLogger("parley.gateway.webchat")


class Listener:
    """One connected browser: frames for it, in the order they were published."""

    def __init__(self, conversation_id: str, limit: int = 256) -> None:
        self.conversation_id = conversation_id
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(limit)

    def put(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # A browser that does not read: drop what is queued; it re-reads the outbox.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class LiveHub:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webchat-live-hub")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()

    async def attach(self, conversation_id: str) -> Listener:
        """Listen to ``conversation_id``'s live frames; subscribed when this returns."""
        await asyncio.wait_for(self._ready.wait(), timeout=10)
        listener = Listener(conversation_id)
        first = not self._listeners[conversation_id]
        self._listeners[conversation_id].add(listener)
        if first:
            await self._pubsub.subscribe(live_channel(conversation_id))
        return listener

    async def detach(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.conversation_id)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[listener.conversation_id]
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(live_channel(listener.conversation_id))

    async def _run(self) -> None:
        prefix = len("parley:live:")
        while not stop_requested():
            try:
                await self._connect()
                while not stop_requested():
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True,
                                                             timeout=5.0)
                    if message is None or message["type"] != "message":
                        continue
                    channel = message["channel"].decode()[prefix:]
                    for listener in list(self._listeners.get(channel, ())):
                        listener.put(message["data"])
            except (RedisError, OSError) as exc:
                self._ready.clear()
                raise_if_stop_requested(exc)  # the error may be the cancellation itself
                _log.error("live fan-out lost its Redis connection (%s); reconnecting", exc)
                await asyncio.sleep(1)

    async def _connect(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(_IDLE_CHANNEL,
                                     *(live_channel(c) for c in self._listeners))
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.put(RESYNC)
        self._ready.set()
