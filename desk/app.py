"""The agent desk as an aiohttp sub-application, mounted by the gateway at ``/desk``.

``create_desk_app`` builds it; its start-up step opens what it owns — its Redis client,
the database of record, the live event reader, the recorder (handoffs and messages into
the database), the archiver (turn records into the database, and the hourly purge of what
``PARLEY_ARCHIVE_RETENTION_DAYS`` says is too old, unless ``archiver`` is off),
the timers and the event counter — and closes them in reverse, with the
signed webhooks to an external helpdesk when ``PARLEY_DESK_WEBHOOK_URL`` is set
(``desk.webhooks``). The middleware here authenticates every API request (session cookie
with CSRF token, or bearer token; ``desk.auth``) and turns the desk's errors into JSON 4xx
answers; the gateway's own middleware, around it, keeps everything else a client can send
away from a 500.

Routes: the console's page and assets (``/desk/``), the API (``/desk/api/...``; every
console action is one), the WebSocket event stream (``/desk/api/events``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from asyncpg import InterfaceError as PgInterfaceError
from asyncpg import PostgresError
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DataError, SQLAlchemyError

from desk import (
    api_accounts,
    api_analytics,
    api_handoffs,
    api_live,
    api_people,
    api_review,
    encryption,
)
from desk.accounts import Accounts
from desk.archiver_thread import ArchiverThread
from desk.assignment import AutoAssigner
from desk.auth import LoginThrottle, Principal, Sessions, csrf_ok
from desk.context import ADDRESS, CONTEXT, PRINCIPAL, DeskContext
from desk.database import ensure_current, open_database, upgrade
from desk.errors import AccountError, DeskError, RecordError, UnknownHandoffError, UnknownUserError
from desk.handoffs import HandoffReader
from desk.live import LiveDesk
from desk.metrics import DeskMetrics, EventCounter
from desk.ownership import DeskOperations
from desk.presence import Presence
from desk.recorder import DeskRecorder
from desk.retention import ArchiveRetention
from desk.timers import DeskTimers
from desk.webhook_settings import WebhookSettings
from desk.webhooks import DeskWebhooks, webhook_metrics

__all__ = ["DeskConfig", "create_desk_app"]

_log = logging.getLogger("parley.desk")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN = frozenset({("POST", "/desk/api/login")})
# The console's pages: scripts and styles only from the package, nothing inline.
_CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """What the desk needs from the gateway: its Redis, its database (a URL as
    ``desk.database.database_url`` gives), the metrics registry, and whether the timers
    run here (every replica may run them: one at a time does)."""

    redis_url: str
    database_url: str
    registry: CollectorRegistry
    timers: bool = True
    webhooks: WebhookSettings | None = None  # signed webhooks to an external helpdesk
    client_address: Callable[[web.Request], str] | None = None  # behind trusted proxies
    upgrade: bool = False  # migrate the schema at start (the embedded SQLite file)
    archiver: bool = True  # store turn records (parley:archive); PARLEY_ARCHIVER=off
    # A conversation's keys outlive its last activity this long (PARLEY_RETENTION_DAYS,
    # workers.retention); the archiver purges what PARLEY_ARCHIVE_RETENTION_DAYS says.
    conversation_ttl: int = 30 * 86400
    archive_retention: ArchiveRetention = field(default_factory=ArchiveRetention)


_CONFIG = web.AppKey("desk_config", DeskConfig)


def create_desk_app(config: DeskConfig) -> web.Application:
    app = web.Application(middlewares=[_desk_errors, _authenticated])
    app[_CONFIG] = config
    if config.client_address is not None:
        app[ADDRESS] = config.client_address
    app.cleanup_ctx.append(_resources)
    api_accounts.add_routes(app)
    api_handoffs.add_routes(app)
    api_live.add_routes(app)
    api_review.add_routes(app)
    api_analytics.add_routes(app)
    api_people.add_routes(app)
    app.router.add_get("/", _html_page("index.html"))
    app.router.add_get("/review", _html_page("review.html"))  # desk.review
    app.router.add_get("/analytics", _html_page("analytics.html"))  # desk.api_analytics
    app.router.add_get("/{name:[a-z_]+\\.(?:js|css)}", _asset)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[_CONFIG]
    if not encryption.require().encrypt_writes:  # set by the entry point, before any write
        _log.warning("encryption at rest is off (PARLEY_ENCRYPTION=off): the desk's records "
                     "are stored in plaintext")
    if config.upgrade:  # the bot folder's own SQLite file: kept current by whoever opens it
        await upgrade(config.database_url)
    else:  # a database of record someone runs: behind is one clear error (`parley db upgrade`)
        await ensure_current(config.database_url)
    client = aioredis.Redis.from_url(config.redis_url, socket_timeout=10,
                                     socket_connect_timeout=5)
    db = open_database(config.database_url)
    accounts = Accounts(db)
    metrics = DeskMetrics(config.registry)
    reader = HandoffReader(client)
    ops = DeskOperations(client, conversation_ttl=config.conversation_ttl)
    live = LiveDesk(client)
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    context = DeskContext(redis=client, db=db, accounts=accounts,
                          sessions=Sessions(client, accounts), throttle=LoginThrottle(client),
                          presence=Presence(client), reader=reader, ops=ops, live=live,
                          metrics=metrics)
    app[CONTEXT] = context
    assigner = AutoAssigner(client, reader=reader, ops=ops, presence=context.presence,
                            accounts=accounts, db=db, metrics=metrics)
    timers = DeskTimers(client, reader=reader, ops=ops, metrics=metrics, assigner=assigner)
    counter = EventCounter(client, metrics, consumer=consumer)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(client.aclose)
        stack.push_async_callback(db.aclose)
        await live.start()
        stack.push_async_callback(live.aclose)
        await counter.start()
        stack.push_async_callback(counter.aclose)
        recorder = DeskRecorder(client, db, consumer=consumer)
        await recorder.start()
        stack.push_async_callback(recorder.aclose)
        if config.archiver:  # on a thread of its own: its batches are CPU work
            archiver = ArchiverThread(config.redis_url, config.database_url,
                                      consumer=consumer, registry=config.registry,
                                      retention=config.archive_retention)
            await archiver.start()
            stack.push_async_callback(archiver.aclose)
        if config.timers:
            await timers.start()
            stack.push_async_callback(timers.aclose)
        if config.webhooks is not None:
            session = aiohttp.ClientSession()
            stack.push_async_callback(session.close)
            hooks = DeskWebhooks(client, config.webhooks, session, consumer,
                                 metrics=webhook_metrics(config.registry))
            await hooks.start()
            stack.push_async_callback(hooks.aclose)
        yield


@web.middleware
async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API route but the login needs a caller; a session's state-changing request
    needs its CSRF token as well."""
    path = request.path
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: 404/405 as they are
    if not path.startswith("/desk/api/") or (request.method, path) in _OPEN:
        return await handler(request)
    context = request.app[CONTEXT]
    principal: Principal | None = await context.sessions.principal(request)
    if principal is None:
        return _error(401, "log in first (a session cookie) or send Authorization: Bearer "
                           "<token>")
    if "\x00" in request.path or "%00" in request.raw_path:
        return _error(400, "a NUL character in the request's path or query")
    if not csrf_ok(request, principal):
        return _error(403, "missing or wrong X-CSRF-Token")
    request[PRINCIPAL] = principal
    if principal.via == "session" and principal.user.must_change_password and path not in (
            "/desk/api/password", "/desk/api/me", "/desk/api/logout"):
        return _error(403, "change the one-time password first (POST /desk/api/password)")
    await context.presence.touch(principal.user)
    return await handler(request)


@web.middleware
async def _desk_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (UnknownHandoffError, UnknownUserError) as exc:
        return _error(404, str(exc))
    except AccountError as exc:
        status = 409 if type(exc).__name__ in ("DuplicateEmailError", "LastAdminError") \
            else 400
        return _error(status, str(exc))
    except RecordError as exc:
        return _error(400, str(exc))
    except DataError as exc:  # a value the database cannot store (what a check missed)
        _log.warning("desk request %s: the database refused a value: %s", request.path,
                     type(exc.orig).__name__ if exc.orig is not None else exc)
        return _error(400, "a value in the request cannot be stored")
    except (DeskError, SQLAlchemyError, PostgresError, PgInterfaceError) as exc:
        # The database of record cannot be used (down, locked, restarting).
        _log.error("desk request %s failed, the database is unavailable: %s", request.path,
                   type(exc).__name__)
        return web.json_response({"error": "the desk's database is unavailable"},
                                 status=503, headers={"Retry-After": "5"})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _html_page(name: str) -> Handler:
    """A page of the desk (the console, analytics, review) under the console's policy."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=_static(name), content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": _CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "X-Frame-Options": "DENY",
                                     "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-store"})

    return page


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        body = _static(name)
    except FileNotFoundError as exc:
        raise web.HTTPNotFound() from exc
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    return web.Response(body=body, content_type=kind, charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})


def _static(name: str) -> bytes:
    return resources.files("desk").joinpath("static", name).read_bytes()
