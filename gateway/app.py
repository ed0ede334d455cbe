"""The aiohttp application: routes, and the resources it owns for its lifetime.

Request path (ack fast): read the body (size-limited → 413) → the channel verifies
(→ 401) and parses (→ 400) → ingress dedupes, numbers and enqueues → 202. Every error a
client can cause is a JSON body with a 4xx status; nothing a client sends is a 500.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from channels.errors import BadRequest, Unauthorized, Unavailable
from channels.web.adapter import WebAdapter
from channels.web.chat import CHANNEL
from channels.web.session import SessionSigner
from desk.app import DeskConfig, create_desk_app
from gateway.app_keys import (
    DISPATCHER,
    HTTP,
    HUB,
    INGRESS,
    METRICS,
    OUTBOX,
    PACERS,
    REDIS,
    SENDERS,
    SESSIONS,
    SETTINGS,
    SOCKETS,
    SWEEPER,
    WEB,
)
from gateway.client_address import client_address
from gateway.client_limits import setup_client_limits
from gateway.dispatcher import OutboundDispatcher, Sender
from gateway.durability import log_durability
from gateway.ingress import ConversationFlooded, Ingress
from gateway.log_throttle import Throttle
from gateway.metrics import GatewayMetrics
from gateway.platforms import PLATFORMS
from gateway.request_errors import (
    malformed_http,
    refuse_from_headers,
    refused,
    setup_request_errors,
    unexpected,
)
from gateway.request_limits import bounded_body, server_args
from gateway.settings import GatewaySettings
from gateway.sweeper import InboxSweeper
from gateway.web import routes as web_routes
from gateway.web.hub import LiveHub
from gateway.web.outbox import WebchatOutbox
from integrations.policy import RetryPolicy
from workers.bus import HEARTBEAT_KEY

__all__ = ["create_app"]

_log = logging.getLogger("parley.gateway.app")
OPENAPI = Path(__file__).with_name("openapi.json")
DESK_MOUNTED = web.AppKey("desk_mounted", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Redis down: every request says so; one line every 10 s, with how many were held back.
_REDIS_DOWN = Throttle(every=10.0)


def create_app(settings: GatewaySettings) -> web.Application:
    # bounded_body: the body read within its deadline and size (gateway/request_limits.py);
    # handler_args: the header deadline.
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[_json_errors, bounded_body],
                          handler_args=server_args(settings.limits))
    app[SETTINGS] = settings
    # Strangers refused from their headers, before the body is read (each channel adds the
    # checks of its routes); one log line a minute.
    setup_request_errors(app, header_checks={})
    app[METRICS] = GatewayMetrics()
    app[SENDERS], app[PACERS] = {}, {}
    app.cleanup_ctx.append(_redis_and_channels)
    setup_client_limits(app)  # rate limits on Redis, the socket cap
    # The messaging platforms (gateway.platforms), in order: each adds its routes, and a
    # start-up step (after Redis, before the dispatcher) that puts its sender into
    # app[SENDERS]; an unconfigured channel adds nothing.
    for add_channel in PLATFORMS:
        add_channel(app)
    app.cleanup_ctx.append(_dispatcher)
    _all_or_nothing(app)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/metrics", _metrics)
    web_routes.add_routes(app)  # the website: its webhook and the browser chat, always on
    _mount_desk(app, settings)
    return app


def _mount_desk(app: web.Application, settings: GatewaySettings) -> None:
    """The agent desk at ``/desk`` (its console and API), when it has a database."""
    url = settings.desk_database
    if url is None:
        # Said once the gateway started (after the channels' own checks, which stop a
        # gateway that cannot start with one line of their own).
        app.on_startup.append(_desk_is_off)
        return
    app[DESK_MOUNTED] = True
    app.router.add_get("/desk", _to_desk)  # before the sub-app, which serves /desk/...
    app.add_subapp("/desk", create_desk_app(DeskConfig(
        redis_url=settings.redis_url, database_url=url, registry=app[METRICS].registry,
        webhooks=settings.desk_webhooks,
        client_address=lambda r: client_address(r, settings.limits.trusted_proxies),
        upgrade=settings.database_url is None, archiver=settings.desk_archiver,
        conversation_ttl=settings.retention.conversation_seconds,
        archive_retention=settings.archive_retention)))


def _all_or_nothing(app: web.Application) -> None:
    """Make the start-up steps one step that unwinds itself when a step fails.

    aiohttp closes nothing when a start-up step raises (``run_app`` sets up outside its
    ``try``): the steps entered before it would leak their connections and tasks, and the
    live hub's task could then hang the loop's shutdown. An ``AsyncExitStack`` closes the
    entered steps, in reverse, before the error stops the gateway."""
    steps = list(app.cleanup_ctx)
    app.cleanup_ctx.clear()

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for step in steps:
                entered = step(app)
                if not isinstance(entered, contextlib.AbstractAsyncContextManager):
                    entered = contextlib.asynccontextmanager(lambda g=entered: g)()
                await stack.enter_async_context(entered)
            yield

    app.cleanup_ctx.append(lifetime)


async def _redis_and_channels(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A bounded pool that makes a burst wait for a connection instead of failing; the
    # dispatcher's blocking stream reads last 1 s, the socket timeout is longer.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=64, timeout=5, socket_timeout=10,
        socket_connect_timeout=5)
    client = aioredis.Redis(connection_pool=pool)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=3))
    app[REDIS] = client
    app[HTTP] = session
    app[INGRESS] = Ingress(client, dedupe_ttl=settings.dedupe_ttl_seconds,
                           outcomes=app[METRICS].inbound, retention=settings.retention)
    app[WEB] = WebAdapter(secret=settings.web_secret, token=settings.web_token,
                          callback_url=settings.web_callback_url,
                          window=settings.replay_window_seconds, session=session)
    app[SESSIONS] = SessionSigner(_session_secret(settings),
                                  max_age=settings.session_days * 86400)
    app[OUTBOX] = WebchatOutbox(client, size=settings.outbox_size,  # words: not past retention
                                ttl_seconds=settings.retention.capped(settings.session_days
                                                                      * 86400))
    sockets: set[web.WebSocketResponse] = set()
    app[SOCKETS] = sockets
    app[METRICS].browser_sockets.set_function(lambda: len(sockets))
    hub = LiveHub(client)
    await hub.start()
    app[HUB] = hub
    await log_durability(client)
    yield
    await hub.aclose()
    await session.close()
    await client.aclose(close_connection_pool=True)


def _session_secret(settings: GatewaySettings) -> str:
    if settings.session_secret:
        return settings.session_secret
    _log.warning("PARLEY_SESSION_SECRET is not set: browser sessions use a random key and "
                 "last until this gateway stops; set it (the same on every replica) to keep "
                 "them across restarts and replicas")
    return secrets.token_urlsafe(32)


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    """The outbound dispatcher and the inbox sweep: the gateway's two background loops,
    both supervised (they restart on errors and say so in ``/readyz``)."""
    settings = app[SETTINGS]
    channel_senders = app[SENDERS]
    senders: dict[str, Sender] = {"web": app[WEB], CHANNEL: app[OUTBOX], **channel_senders}
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    dispatcher = OutboundDispatcher(
        app[REDIS], senders, consumer=consumer,
        retry=RetryPolicy(attempts=settings.callback_attempts, initial_backoff=0.2,
                          max_backoff=5.0, jitter=0.1),
        metrics=app[METRICS], claim_idle_ms=settings.claim_idle_seconds * 1000,
        pacers=app[PACERS])
    sweeper = InboxSweeper(app[REDIS], owner=consumer)
    await dispatcher.start()
    await sweeper.start()
    app[DISPATCHER], app[SWEEPER] = dispatcher, sweeper
    yield
    await sweeper.aclose()
    await dispatcher.aclose()


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as a JSON body (``gateway.request_errors``): a refusal's own headers kept
    (405's ``Allow``), malformed requests logged once per client a minute, an unforeseen
    exception in a channel's parsing a 400, infrastructure down a 503 with Retry-After."""
    try:
        refuse_from_headers(request)  # first: later middlewares read the body
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refused(request, exc.status, exc.reason, exc.headers)
    except Unauthorized as exc:
        return refused(request, 401, str(exc))
    except BadRequest as exc:
        return refused(request, 400, str(exc))
    except HttpProcessingError as exc:  # the body broke HTTP's framing as it was read
        return malformed_http(request, exc)
    except ConversationFlooded:
        return web.json_response(
            {"error": "this conversation has too many messages waiting for an answer; send "
                      "this one again once the answers came (PARLEY_MAX_UNSERVED)"},
            status=429, headers={"Retry-After": "2"})
    except Unavailable as exc:
        _log.error("%s not handled, a platform API is unavailable: %s", request.path, exc)
        return web.json_response({"error": "temporarily unavailable, retry later"},
                                 status=503, headers={"Retry-After": "5"})
    except (aioredis.RedisError, OSError) as exc:
        # Not the client's fault, and not acknowledged: the platform will retry.
        more = _REDIS_DOWN.allow("redis")
        if more is not None:
            _log.error("Redis unavailable while handling requests (%s): %s%s", request.path,
                       exc, f" (and {more} more since the last such line)" if more else "")
        return web.json_response({"error": "temporarily unavailable, retry later"},
                                 status=503, headers={"Retry-After": "1"})
    except Exception as exc:  # the last line: nothing a client sends is a traceback's 500
        return unexpected(request, exc)


async def _desk_is_off(app: web.Application) -> None:
    _log.warning("the agent desk is off: set PARLEY_DATABASE_URL (or PARLEY_BOT_DIR for the "
                 "bot folder's SQLite file); handoffs stay offline tickets nobody sees")


async def _to_desk(request: web.Request) -> web.Response:
    raise web.HTTPFound("/desk/")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers, a worker with a loaded bot is alive, and the gateway's
    dispatcher and inbox sweep are running; the body says which part is not."""
    checks = {"redis": False, "worker": False,
              "dispatcher": request.app[DISPATCHER].healthy,
              "sweeper": request.app[SWEEPER].healthy}
    try:
        client = request.app[REDIS]
        checks["redis"] = bool(await client.ping())
        # Workers write the heartbeat only once their bot (and model) is loaded.
        checks["worker"] = bool(await client.exists(HEARTBEAT_KEY))
    except (aioredis.RedisError, OSError) as exc:
        _log.warning("readiness check failed: %s", exc)
    ready = all(checks.values())
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(),
                        content_type="text/plain", charset="utf-8")


async def _openapi(request: web.Request) -> web.Response:
    """The gateway's document, with the desk's operations when the desk is mounted."""
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    if request.app.get(DESK_MOUNTED):
        desk = json.loads(resources.files("desk").joinpath("openapi.json").read_text("utf-8"))
        document["paths"].update(desk.get("paths", {}))
        document.setdefault("webhooks", {}).update(desk.get("webhooks", {}))
        for part, items in desk.get("components", {}).items():
            document.setdefault("components", {}).setdefault(part, {}).update(items)
        document.setdefault("tags", []).extend(desk.get("tags", []))
    return web.json_response(document)

