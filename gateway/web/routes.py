"""The website's routes: its server-to-server webhook, and the browser chat's page, widget,
sessions and two transports. The website is always served (the app builds its adapter,
session signer, outbox and hub with Redis); there is nothing to configure to turn it on.

- ``POST /channels/web/messages``: the site's server posts a user message, or a rating
  (``feedback``; ``channels.web.adapter``) (signature or bearer token checked from the
  headers before the body is read → 401; parsed → 400; ingress dedupes and enqueues →
  202 with the message's status and sequence).
- ``GET /`` and ``GET /widget.js``: the chat page and the embeddable widget (package files).
- ``POST /channels/web/session``: a signed session token (the same conversation again
  when the browser's token is still valid). A new session's conversation is opened at
  once with a conversation-start event (so the bot may greet first), before the browser
  holds a token it could write with.
- ``GET /channels/web/ws``: the WebSocket. First frame ``hello`` (token, last ``seq``
  seen); then the frames missed meanwhile come from the outbox and live frames from the
  hub. Each accepted message is recorded in the outbox as a ``user`` frame by the same
  script that enqueues it, so every tab (and a reloaded page) shows it. A ``feedback``
  frame (thumbs on a bot reply) is enqueued the same way, as an entry of kind
  ``feedback`` (never parsed by NLU), and recorded as a ``rated`` frame; a malformed one
  gets an ``error`` frame and nothing is enqueued.
- ``POST /channels/web/send`` and ``POST /channels/web/poll``: the long-poll fallback for
  networks that block WebSockets; the same frames as JSON.

Browsers' ``Origin`` must be the gateway's own or one of ``PARLEY_WEB_ALLOWED_ORIGINS``
(403 otherwise, before anything runs, for the WebSocket as for the POSTs). The refusal
carries CORS headers and the preflight is answered for any origin, so that a widget
embedded on a refused site can read the 403 and tell the person, instead of seeing a
network error and retrying forever; the origin check on the request itself is the
protection. Each refused origin is logged at most once a minute, naming the variable to
set. A request without ``Origin`` is not from a browser's page and is judged by its token
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import urlparse

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from channels.errors import BadRequest, Unauthorized
from channels.web.chat import (
    FeedbackFrame,
    MessageFrame,
    conversation_of,
    conversation_start,
    decode_frame,
    decode_hello,
    decode_poll,
    decode_send,
    decode_session,
    frame_sequence,
    inbound,
    inbound_rating,
)
from gateway.app_keys import HUB, INGRESS, OUTBOX, SESSIONS, SETTINGS, SOCKETS, WEB
from gateway.client_limits import held_socket, session_refusal, socket_refusal
from gateway.ingress import ConversationFlooded, status
from gateway.log_throttle import Throttle
from gateway.request_errors import add_header_check
from gateway.web.hub import RESYNC, Listener
from gateway.web.outbox import WebchatOutbox

__all__ = ["WEBHOOK_PATH", "add_routes"]

_log = logging.getLogger("parley.gateway.webchat")
WEBHOOK_PATH = "/channels/web/messages"
POLL_SECONDS = 25.0
HELLO_SECONDS = 10.0
SESSION_INVALID = 4401  # WebSocket close code: get a new session and reconnect
REFUSED_ORIGIN = "this origin may not use the chat (see PARLEY_WEB_ALLOWED_ORIGINS)"
FLOODED = "Please wait for the answers to your earlier messages; this one is sent again then."


class _RefusedOrigins:
    """The log of refused origins: one line per origin per ``every`` seconds, however many
    requests a misconfigured site sends; at most ``most`` origins are remembered, so a
    flood of made-up origins cannot grow memory or the log without bound."""

    def __init__(self, *, every: float = 60.0, most: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._throttle = Throttle(every=every, most=most, clock=clock)

    def report(self, origin: str) -> None:
        origin = origin[:200]
        more = self._throttle.allow(origin)
        if more is None:
            return
        _log.warning("refused the browser chat for a page on %r: that origin is neither the "
                     "gateway's own nor in PARLEY_WEB_ALLOWED_ORIGINS; add it there "
                     "(comma-separated) to allow the widget on that site%s", origin,
                     f" ({more} more refusals since the last notice)" if more else "")


_REFUSED = web.AppKey("webchat_refused_origins", _RefusedOrigins)


def add_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, _web_messages)
    add_header_check(app, WEBHOOK_PATH, _web_credentials)  # a stranger's body is never read
    app[_REFUSED] = _RefusedOrigins()
    app.router.add_get("/", _page)
    app.router.add_get("/widget.js", _widget)
    for path, handler in (("/channels/web/session", _session), ("/channels/web/send", _send),
                          ("/channels/web/poll", _poll)):
        app.router.add_post(path, handler)
        app.router.add_route("OPTIONS", path, _preflight)
    app.router.add_get("/channels/web/ws", _websocket)
    app.on_shutdown.append(_close_sockets)


def _web_credentials(request: web.Request) -> None:
    """The website webhook's credentials from its headers alone (run before the body is
    read): a bearer token entirely, a signature's form and age (its HMAC needs the body)."""
    request.app[WEB].verify_headers(request.headers)


async def _web_messages(request: web.Request) -> web.Response:
    body = await request.read()  # a stranger never gets here: _web_credentials ran first
    adapter = request.app[WEB]
    adapter.verify(request.headers, body)
    results = []
    for message in adapter.parse(body):
        sequence = await request.app[INGRESS].accept(
            message, cap=request.app[SETTINGS].max_unserved)
        results.append({"message_id": message.message_id, "status": status(sequence),
                        "sequence": sequence})
    return web.json_response(results[0] if len(results) == 1 else results, status=202)


def _static(name: str) -> bytes:
    return resources.files("channels.web").joinpath("static", name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    """The chat page: no inline script, and framed only by the gateway itself and the
    sites of ``PARLEY_WEB_ALLOWED_ORIGINS`` (a page that embeds the chat in an iframe)."""
    origins = request.app[SETTINGS].allowed_origins
    headers = {"Content-Security-Policy": _page_policy(origins),
               "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "strict-origin-when-cross-origin"}
    if not origins:  # for browsers without CSP frame-ancestors; a list needs CSP alone
        headers["X-Frame-Options"] = "SAMEORIGIN"
    return web.Response(body=_static("index.html"), content_type="text/html",
                        charset="utf-8", headers=headers)


def _page_policy(origins: tuple[str, ...]) -> str:
    # The page's own <style> block and the widget's injected styles need 'unsafe-inline'
    # for styles; scripts come from this origin only.
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; "
            "form-action 'self'; frame-ancestors " + " ".join(("'self'", *origins)))


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


def _refused(request: web.Request) -> web.Response | None:
    """The 403 for a page whose origin may not use the chat (``None`` if it may)."""
    if _origin_allowed(request):
        return None
    request.app[_REFUSED].report(request.headers.get("Origin", ""))
    response = web.json_response({"error": REFUSED_ORIGIN, "reason": "origin"}, status=403)
    _cors(request, response)  # so that the refused page can read why, and say so
    return response


async def _preflight(request: web.Request) -> web.StreamResponse:
    # Answered for any origin: a failed preflight would hide the 403 (and its reason) of
    # the request that follows from the widget; that request is refused if it must be.
    response = web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"})
    return _cors(request, response)


async def _session(request: web.Request) -> web.StreamResponse:
    """A token for the browser's conversation: its own again if its token is valid."""
    if (refused := _refused(request)) is not None:
        return refused
    old = decode_session(await request.read())
    signer = request.app[SESSIONS]
    session_id = None
    if old:
        with contextlib.suppress(Unauthorized):
            session_id = signer.verify(old).session_id
    if session_id is None and (limited := await session_refusal(request)) is not None:
        return _cors(request, limited)  # too many new conversations from this address: 429
    token, session = signer.issue(session_id)
    if session_id is None:
        # A new conversation: its start event takes sequence 1 before the browser has a
        # token to write with. Its dedupe key makes a retried enqueue a no-op.
        await request.app[INGRESS].accept(conversation_start(session.session_id),
                                          counted=False)
    return _cors(request, web.json_response({"token": token,
                                             "conversation": session.session_id}))


async def _accept(request: web.Request, session_id: str, frame: MessageFrame | FeedbackFrame
                  ) -> dict[str, str]:
    message = inbound_rating(session_id, frame) if isinstance(frame, FeedbackFrame) \
        else inbound(session_id, frame)
    sequence = await request.app[INGRESS].accept(
        message, echo=request.app[OUTBOX].echo_of(message, frame),
        cap=request.app[SETTINGS].max_unserved)
    return {"type": "ack", "id": frame.id, "status": status(sequence)}


async def _send(request: web.Request) -> web.StreamResponse:
    if (refused := _refused(request)) is not None:
        return refused
    token, frame = decode_send(await request.read())
    session = request.app[SESSIONS].verify(token)
    ack = await _accept(request, session.session_id, frame)
    return _cors(request, web.json_response(ack, status=202))


async def _poll(request: web.Request) -> web.StreamResponse:
    """Frames after ``after``: the outbox's at once, else the next live ones (≤ 25 s)."""
    if (refused := _refused(request)) is not None:
        return refused
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
    """What the hub hears within ``POLL_SECONDS``: typing, and frames numbered above
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
    if (refused := _refused(request)) is not None:
        return refused  # the handshake fails with 403
    if (limited := await socket_refusal(request)) is not None:
        return limited  # too many from this address, or too fast: the handshake fails, 429
    with held_socket(request):
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
    """Missed frames from the outbox, then live ones; each numbered frame sent once, in
    order (``user`` frames and replies alike)."""
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
            frame = decode_frame(raw.data)
            ack = await _accept(request, session_id, frame)
        except BadRequest as exc:
            await ws.send_json({"type": "error", "message": str(exc)})
            continue
        except ConversationFlooded:  # the widget shows it and sends the message again later
            await ws.send_json({"type": "error", "message": FLOODED})
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
