"""The browser chat's routes: the page, the widget, sessions and the two transports.

- ``GET /`` and ``GET /widget.js``: the chat page and the embeddable widget (package files).
- ``POST /channels/web/session``: a signed session token (the same conversation again
  when the browser's token is still valid).
- ``GET /channels/web/ws``: the WebSocket. First frame ``hello`` (token, last reply seen);
  then replies missed meanwhile come from the outbox and live frames from the hub.
- ``POST /channels/web/send`` and ``POST /channels/web/poll``: the long-poll fallback for
  networks that block WebSockets; the same frames as JSON.

Browsers' ``Origin`` must be the gateway's own or one of ``PARLEY_WEB_ALLOWED_ORIGINS``
(403 otherwise, before anything runs, for the WebSocket as for the POSTs); allowed
cross-origin callers get CORS headers. A request without ``Origin`` is not from a
browser's page and is judged by its token alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources
from urllib.parse import urlparse

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from channels.errors import BadRequest, Unauthorized
from channels.webchat import (
    MessageFrame,
    conversation_of,
    decode_hello,
    decode_message,
    decode_poll,
    decode_send,
    decode_session,
    frame_sequence,
    inbound,
)
from gateway.app_keys import HUB, INGRESS, OUTBOX, SESSIONS, SETTINGS, SOCKETS
from gateway.ingress import status
from gateway.webchat_hub import RESYNC, Listener
from gateway.webchat_outbox import WebchatOutbox

__all__ = ["add_webchat_routes"]

_log = logging.getLogger("parley.gateway.webchat")
POLL_SECONDS = 25.0
HELLO_SECONDS = 10.0
SESSION_INVALID = 4401  # WebSocket close code: get a new session and reconnect


def add_webchat_routes(app: web.Application) -> None:
    app.router.add_get("/", _page)
    app.router.add_get("/widget.js", _widget)
    for path, handler in (("/channels/web/session", _session), ("/channels/web/send", _send),
                          ("/channels/web/poll", _poll)):
        app.router.add_post(path, handler)
        app.router.add_route("OPTIONS", path, _preflight)
    app.router.add_get("/channels/web/ws", _websocket)
    app.on_shutdown.append(_close_sockets)


def _static(name: str) -> bytes:
    return resources.files("channels").joinpath("static", name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def _widget(request: web.Request) -> web.Response:
    return web.Response(body=_static("widget.js"), content_type="application/javascript",
                        charset="utf-8", headers={"Cache-Control": "public, max-age=300"})


def _origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if urlparse(origin).netloc == request.host:
        return True
    return origin.rstrip("/") in request.app[SETTINGS].allowed_origins


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def _check_origin(request: web.Request) -> None:
    if not _origin_allowed(request):
        _log.warning("refused %s from origin %r", request.path, request.headers.get("Origin"))
        raise web.HTTPForbidden(reason="this origin may not use the chat "
                                       "(see PARLEY_WEB_ALLOWED_ORIGINS)")


async def _preflight(request: web.Request) -> web.StreamResponse:
    _check_origin(request)
    response = web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"})
    return _cors(request, response)


async def _session(request: web.Request) -> web.StreamResponse:
    """A token for the browser's conversation: its own again if its token is valid."""
    _check_origin(request)
    old = decode_session(await request.read())
    signer = request.app[SESSIONS]
    session_id = None
    if old:
        with contextlib.suppress(Unauthorized):
            session_id = signer.verify(old).session_id
    token, session = signer.issue(session_id)
    return _cors(request, web.json_response({"token": token,
                                             "conversation": session.session_id}))


async def _accept(request: web.Request, session_id: str, frame: MessageFrame) -> dict[str, str]:
    sequence = await request.app[INGRESS].accept(inbound(session_id, frame))
    return {"type": "ack", "id": frame.id, "status": status(sequence)}


async def _send(request: web.Request) -> web.StreamResponse:
    _check_origin(request)
    token, frame = decode_send(await request.read())
    session = request.app[SESSIONS].verify(token)
    ack = await _accept(request, session.session_id, frame)
    return _cors(request, web.json_response(ack, status=202))


async def _poll(request: web.Request) -> web.StreamResponse:
    """Frames after ``after``: the outbox's at once, else the next live ones (≤ 25 s)."""
    _check_origin(request)
    token, after = decode_poll(await request.read())
    cid = conversation_of(request.app[SESSIONS].verify(token).session_id)
    hub, outbox = request.app[HUB], request.app[OUTBOX]
    listener = await hub.attach(cid)
    try:
        frames = await outbox.after(cid, after) or await _next_live(listener, outbox, after)
    finally:
        await hub.detach(listener)
    # The frames are JSON already: splice them rather than decode and encode them again.
    return _cors(request, web.Response(body=b'{"events":[' + b",".join(frames) + b"]}",
                                       content_type="application/json"))


async def _next_live(listener: Listener, outbox: WebchatOutbox, after: int) -> list[bytes]:
    """What the hub hears within ``POLL_SECONDS``: typing, and replies numbered above
    ``after`` (read from the outbox instead if the hub may have missed some)."""
    try:
        first = await asyncio.wait_for(listener.queue.get(), POLL_SECONDS)
    except TimeoutError:
        return []
    frames = [first, *(listener.queue.get_nowait() for _ in range(listener.queue.qsize()))]
    if RESYNC in frames:
        return await outbox.after(listener.conversation_id, after)
    return [f for f in frames if (seq := frame_sequence(f)) == 0 or seq > after]


async def _websocket(request: web.Request) -> web.StreamResponse:
    _check_origin(request)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=16 * 1024)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        await _serve_socket(request, ws)
    finally:
        sockets.discard(ws)
    return ws


async def _serve_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    try:
        first = await ws.receive(timeout=HELLO_SECONDS)
    except TimeoutError:
        await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"no hello")
        return
    if first.type != aiohttp.WSMsgType.TEXT:
        return
    try:
        hello = decode_hello(first.data)
        session = request.app[SESSIONS].verify(hello.token)
    except (BadRequest, Unauthorized) as exc:
        await ws.send_json({"type": "error", "message": str(exc)})
        await ws.close(code=SESSION_INVALID, message=str(exc).encode()[:120])
        return
    cid = conversation_of(session.session_id)
    hub = request.app[HUB]
    listener = await hub.attach(cid)
    try:
        last = await request.app[OUTBOX].last(cid)
        await ws.send_json({"type": "welcome", "conversation": session.session_id,
                            "last": last})
        pump = asyncio.create_task(_pump(request, ws, listener, hello.after),
                                   name=f"webchat-pump-{session.session_id[:8]}")
        try:
            await _read_frames(request, ws, session.session_id)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pump
    finally:
        await hub.detach(listener)


async def _pump(request: web.Request, ws: web.WebSocketResponse, listener: Listener,
                after: int) -> None:
    """Missed replies from the outbox, then live frames; each reply sent once, in order."""
    outbox, cid = request.app[OUTBOX], listener.conversation_id
    last = after
    pending = await outbox.after(cid, last)
    while True:
        for frame in pending:
            sequence = frame_sequence(frame)
            if sequence == 0:  # typing: live only, never stored
                await ws.send_str(frame.decode())
                continue
            if sequence <= last:
                continue  # sent already (read from the outbox, then heard live)
            if sequence > last + 1:  # this live frame overtook some: the outbox has them
                for missed in await outbox.after(cid, last):
                    if frame_sequence(missed) >= sequence:
                        break
                    await ws.send_str(missed.decode())
                    last = frame_sequence(missed)
            await ws.send_str(frame.decode())
            last = sequence
        frame = await listener.queue.get()
        pending = await outbox.after(cid, last) if frame == RESYNC else [frame]


async def _read_frames(request: web.Request, ws: web.WebSocketResponse, session_id: str
                       ) -> None:
    async for raw in ws:
        if raw.type != aiohttp.WSMsgType.TEXT:
            continue
        try:
            frame = decode_message(raw.data)
            ack = await _accept(request, session_id, frame)
        except BadRequest as exc:
            await ws.send_json({"type": "error", "message": str(exc)})
            continue
        except (RedisError, OSError) as exc:
            _log.error("webchat message not accepted, Redis unavailable: %s", exc)
            await ws.send_json({"type": "error",
                                "message": "The chat is briefly unavailable; retrying."})
            continue
        await ws.send_json(ack)


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: tell browsers to reconnect (to this replica when back, or another)."""
    held = app[SOCKETS]
    sockets = list(held)
    for ws in sockets:
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"gateway restarting")
    _log.info("closed %d browser sockets at shutdown", len(sockets))
