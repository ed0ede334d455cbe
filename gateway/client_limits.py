"""The per-client limits of the browser chat: what the routes call, and who owns it.

- New conversations (``POST /channels/web/session`` without a valid token) are limited to
  ``PARLEY_RATE_LIMIT_SESSIONS`` per client; renewing a valid token is not counted, so
  people reloading pages, or returning, behind a shared (NAT) address are not refused
  because of a neighbour's flood.
- WebSocket handshakes (``GET /channels/web/ws``) are limited to
  ``PARLEY_RATE_LIMIT_SOCKETS`` per client, and at most ``PARLEY_MAX_SOCKETS_PER_CLIENT``
  may be open at once per client on one gateway process (the count is this process's
  own: exact, and gone with it; N replicas allow N times as many in all).

A refusal is 429 with ``Retry-After`` and JSON ``{"error", "reason"}`` (``sessions_rate``,
``sockets_rate``, ``sockets_open``), counted in ``parley_requests_refused_total``. Rates
are counted in Redis (``gateway/rate_limit.py``: shared by the replicas, let through if
Redis cannot be asked); clients are told apart by ``gateway/client_address.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import Counter

from gateway.app_keys import METRICS, REDIS, SETTINGS
from gateway.client_address import client_address
from gateway.limit_settings import LimitSettings, Rate
from gateway.rate_limit import RedisRateLimiter
from gateway.request_limits import refusal

__all__ = ["LIMITS", "ClientLimits", "SocketCap", "held_socket", "session_refusal",
           "setup_client_limits", "socket_refusal"]

SOCKETS_OPEN_RETRY = 10  # s: a guess; sockets close when their pages do


@dataclass
class SocketCap:
    """Open sockets per client on this process; ``most`` 0 means no cap."""

    most: int
    _open: dict[str, int] = field(default_factory=dict)

    def full(self, client: str) -> bool:
        return self.most > 0 and self._open.get(client, 0) >= self.most

    def open(self, client: str) -> int:
        return self._open.get(client, 0)

    @contextlib.contextmanager
    def hold(self, client: str) -> Iterator[None]:
        self._open[client] = self._open.get(client, 0) + 1
        try:
            yield
        finally:
            left = self._open[client] - 1
            if left:
                self._open[client] = left
            else:
                del self._open[client]  # the map holds only clients with open sockets


@dataclass(frozen=True, slots=True)
class ClientLimits:
    settings: LimitSettings
    sessions: RedisRateLimiter | None  # None: that limit is off
    sockets: RedisRateLimiter | None
    cap: SocketCap


LIMITS = web.AppKey("client_limits", ClientLimits)


def setup_client_limits(app: web.Application) -> None:
    """Add the limits' start-up step; it needs ``app[REDIS]``, so add it after Redis's."""
    app.cleanup_ctx.append(_client_limits)


async def _client_limits(app: web.Application) -> AsyncIterator[None]:
    limits, client = app[SETTINGS].limits, app[REDIS]
    unavailable = app[METRICS].limiter_unavailable
    # The limiters borrow the application's Redis client: its owner's step opens it before
    # this one and closes it after, so there is nothing of their own to close.
    app[LIMITS] = ClientLimits(
        settings=limits,
        sessions=_limiter(client, "sessions", limits.sessions, unavailable),
        sockets=_limiter(client, "sockets", limits.sockets, unavailable),
        cap=SocketCap(limits.max_sockets_per_client))
    yield


def _limiter(client: aioredis.Redis, name: str, rate: Rate | None, unavailable: Counter
             ) -> RedisRateLimiter | None:
    if rate is None:
        return None
    return RedisRateLimiter(client, name=name, rate=rate, unavailable=unavailable)


def _client(request: web.Request) -> str:
    return client_address(request, request.app[LIMITS].settings.trusted_proxies)


async def session_refusal(request: web.Request) -> web.Response | None:
    """429 if the client has opened too many conversations lately; else ``None`` (and
    this one is counted)."""
    limiter = request.app[LIMITS].sessions
    if limiter is None:
        return None
    decision = await limiter.check(_client(request))
    if decision.allowed:
        return None
    return refusal(request, 429, "sessions_rate", "too many new chat sessions from this "
                   "address; retry later", retry_after=decision.retry_after)


async def socket_refusal(request: web.Request) -> web.Response | None:
    """429 if the client opens sockets too fast or holds too many; else ``None``, and the
    caller enters ``held_socket`` next, with no ``await`` in between (so the count checked
    is the count held)."""
    limits, client = request.app[LIMITS], _client(request)
    if limits.cap.full(client):  # first, so a capped client's retries cost Redis nothing
        return _too_many_open(request)
    if limits.sockets is not None:
        decision = await limits.sockets.check(client)
        if not decision.allowed:
            return refusal(request, 429, "sockets_rate", "too many chat connections from "
                           "this address; retry later", retry_after=decision.retry_after)
    if limits.cap.full(client):  # others of the client's may have opened meanwhile
        return _too_many_open(request)
    return None


def _too_many_open(request: web.Request) -> web.Response:
    most = request.app[LIMITS].cap.most
    return refusal(request, 429, "sockets_open", f"this address has {most} chat connections "
                   "open already; close one or retry later", retry_after=SOCKETS_OPEN_RETRY)


@contextlib.contextmanager
def held_socket(request: web.Request) -> Iterator[None]:
    """Count the request's socket as open against its client while the block runs."""
    with request.app[LIMITS].cap.hold(_client(request)):
        yield
