"""Desk API: the live event stream (WebSocket), presence, teams, agents, canned replies.

The WebSocket takes the session cookie (the console) or a bearer token (a helpdesk), and
checks the page's origin for a cookie: another site's page cannot open it with the
agent's cookie. A connected console pings every 20 s; each ping (and every API call)
keeps its agent online (``desk.presence``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
from aiohttp import WSMsgType, web

from desk import audit
from desk.context import CONTEXT, body, client_address, error, principal
from desk.events import add_event
from desk.live import AgentSocket
from desk.presence import STATUSES
from workers.bus import desk_key

__all__ = ["add_routes"]


class _Presence(msgspec.Struct, forbid_unknown_fields=True):
    status: str


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/events", _events)
    app.router.add_put("/api/presence", _presence)
    app.router.add_get("/api/teams", _teams)
    app.router.add_get("/api/agents", _agents)
    app.router.add_get("/api/canned", _canned)


async def _events(request: web.Request) -> web.StreamResponse:
    context, caller = request.app[CONTEXT], principal(request)
    if caller.via == "session" and not _same_origin(request):
        return error(403, "this socket is for the desk's own pages")
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await socket.prepare(request)
    agent = AgentSocket(caller.user, socket)
    context.live.add(agent)
    writer = asyncio.create_task(_write(agent), name="desk-socket-writer")
    try:
        await socket.send_str(json.dumps({"type": "hello",
                                          "user": await context.user_json(caller.user)}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            if _kind(message.data) == "ping":
                await context.presence.touch(caller.user)
                await socket.send_str('{"type":"pong"}')
    finally:
        context.live.remove(agent)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    return socket


async def _write(agent: AgentSocket) -> None:
    while True:
        frame = await agent.queue.get()
        if not frame:  # fell behind, or the desk is stopping: the console reconnects
            await agent.socket.close(code=1013, message=b"reconnect")
            return
        await agent.socket.send_str(frame.decode())


def _kind(data: str) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return ""
    return str(value.get("type", "")) if isinstance(value, dict) else ""


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's page (browsers always send it on a WebSocket)
    return urlsplit(origin).netloc == request.host


async def _presence(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    change = await body(request, _Presence)
    if change.status not in STATUSES:
        return error(400, f"status is one of {', '.join(STATUSES)}")
    before = await context.presence.chosen(user.id)
    await context.presence.set(user, change.status)
    if before != change.status:
        await add_event(context.redis, "presence.changed", conversation_id="", handoff_id="",
                        team="", epoch=0, agent=user.as_json(), status=change.status)
        await audit.record(context.db, actor=user, action="presence.changed",
                           detail={"from": before, "to": change.status},
                           ip=client_address(request))
    return web.json_response({"status": change.status})


async def _teams(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    teams = await context.reader.teams()
    listed: list[dict[str, Any]] = []
    for name, settings in sorted(teams.items()):
        listed.append({"name": name,
                       "waiting": int(await context.redis.zcard(desk_key("queue", name))),
                       "online_agents": len(await context.presence.online_in(name)),
                       "sla_seconds": settings.get("first_response_seconds"),
                       "queue_timeout_seconds": settings.get("queue_timeout_seconds")})
    return web.json_response({"teams": listed})


async def _agents(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    users = [u for u in await context.accounts.list_users() if not u.disabled]
    statuses = await context.presence.status_of(u.id for u in users)
    return web.json_response({"agents": [{**u.as_json(), "presence": statuses.get(u.id)}
                                         for u in users]})


async def _canned(request: web.Request) -> web.Response:
    raw = cast(dict[bytes, bytes], await request.app[CONTEXT].redis.hgetall(desk_key("canned")))
    responses = [{"name": k.decode(), "text": v.decode()} for k, v in sorted(raw.items())]
    return web.json_response({"responses": responses})
