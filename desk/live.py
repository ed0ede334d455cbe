"""Live desk events to the agents' browsers connected to this replica.

Every replica reads the desk's event stream (``parley:desk:events``) from where it was
when it started, with plain ``XREAD`` (no group: each replica must see every event for
its own sockets), and sends each event to the sockets whose agent may see it: their
teams' handoffs, the ones they hold, and all of them for supervisors. The event was
written by whichever process made it — a worker on any machine, another replica — so an
agent on replica A sees a user who writes through replica B at once.

A socket that does not keep up (its queue is full) is closed; the console reconnects and
reloads its lists, as it does after any reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, cast

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from desk.accounts import User
from workers.bus import DESK_EVENTS_STREAM

__all__ = ["AgentSocket", "LiveDesk", "visible_to"]

_log = logging.getLogger("parley.desk.live")


class AgentSocket:
    def __init__(self, user: User, socket: web.WebSocketResponse, limit: int = 500) -> None:
        self.user = user
        self.socket = socket
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(limit)

    def put(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)  # the writer closes the socket


def visible_to(user: User, data: dict[str, Any]) -> bool:
    """May ``user`` see this event? Supervisors see all; an agent their teams' and their
    own handoffs; presence changes go to everyone."""
    if user.is_supervisor or data.get("type") == "presence.changed":
        return True
    if data.get("team") in user.teams or data.get("to_team") in user.teams:
        return True
    agents = [data.get("agent"), data.get("to_agent"), data.get("holder")]
    return any(isinstance(a, dict) and a.get("id") == user.id for a in agents)


class LiveDesk:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._sockets: set[AgentSocket] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def sockets(self) -> int:
        return len(self._sockets)

    async def start(self) -> None:
        last = await self._last_id()
        self._task = asyncio.create_task(self._run(last), name="desk-live-events")

    async def aclose(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for agent in list(self._sockets):
            agent.put(b"")
            with contextlib.suppress(Exception):
                await agent.socket.close()

    def add(self, agent: AgentSocket) -> None:
        self._sockets.add(agent)

    def remove(self, agent: AgentSocket) -> None:
        self._sockets.discard(agent)

    async def _last_id(self) -> str:
        with contextlib.suppress(RedisError, OSError):
            info = cast(list[Any], await self._redis.xrevrange(DESK_EVENTS_STREAM, count=1))
            if info:
                entry_id = info[0][0]
                return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return "0-0"

    async def _run(self, last: str) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                found = cast(list[Any], await self._redis.xread(
                    {DESK_EVENTS_STREAM: last}, count=500, block=1000))
                delay = 0.5
            except (RedisError, OSError) as exc:
                _log.warning("desk live events: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            for _, items in found or ():
                for entry_id, fields in items:
                    last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    self._fan_out(last, fields)

    def _fan_out(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            data = json.loads(fields.get(b"data", b"{}"))
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        frame = json.dumps({"type": data.get("type"), "id": entry_id, "data": data},
                           ensure_ascii=False).encode()
        for agent in list(self._sockets):
            if visible_to(agent.user, data):
                agent.put(frame)
