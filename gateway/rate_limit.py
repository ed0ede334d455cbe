"""A sliding-window rate limit kept in Redis, shared by every gateway replica.

Why a sliding log rather than a fixed window: a fixed window (one counter per minute)
lets a client spend its whole allowance at the end of one window and again at the start
of the next, twice the rate within seconds, and its ``Retry-After`` is the same for every
client. The log holds the admission times of the last window per client (a sorted set),
so the rule is exact (at most COUNT in *any* window-long span) and ``Retry-After`` is
exact too: when the oldest admission leaves the window. It costs one small sorted set per
active client, never more than COUNT entries (refused requests are not recorded, so a
flood cannot grow it), expiring a window after its last admission.

One Lua script decides and records atomically, with Redis's own clock (``TIME``), so
replicas whose clocks differ still agree.

If Redis cannot be asked (down, unreachable, slower than ``timeout``), the check lets the
request through: the limits protect the gateway from floods and are not worth refusing
people for, and the requests they guard need Redis themselves, so they fail on their own
(503) if it is really gone. Such a pass is counted, and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from gateway.limit_settings import Rate
from gateway.log_throttle import Throttle

__all__ = ["Decision", "RedisRateLimiter"]

_log = logging.getLogger("parley.gateway.rate_limit")
PREFIX = "parley:ratelimit"

# KEYS[1] the client's log; ARGV: count, window in ms, a unique member for this admission.
# Returns {1, 0} when admitted (and recorded), {0, ms until the oldest admission leaves}.
_SLIDING_LOG = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local count, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < count then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now_ms}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds, at least 1 when refused


class RedisRateLimiter:
    """``rate`` per client of one rule (``name``), e.g. new browser sessions."""

    def __init__(self, client: aioredis.Redis, *, name: str, rate: Rate,
                 unavailable: Counter, timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._script = client.register_script(_SLIDING_LOG)
        self._name, self._rate, self._timeout = name, rate, timeout
        self._unavailable = unavailable
        self._notices = Throttle(every=60.0, clock=clock)  # the "not applied" line

    async def check(self, client_key: str) -> Decision:
        """Admit (and record) one request of ``client_key``, or say how long to wait."""
        key = f"{PREFIX}:{self._name}:{client_key}"
        try:
            async with asyncio.timeout(self._timeout):
                allowed, wait_ms = await self._script(
                    keys=[key], args=[self._rate.count, self._rate.seconds * 1000,
                                      secrets.token_hex(8)])
        except (RedisError, OSError, TimeoutError) as exc:
            self._pass_unchecked(exc)
            return Decision(True)
        if allowed:
            return Decision(True)
        return Decision(False, max(1, -(-int(wait_ms) // 1000)))

    def _pass_unchecked(self, exc: BaseException) -> None:
        self._unavailable.inc()
        more = self._notices.allow(self._name)
        if more is None:
            return
        _log.warning("rate limit %s not applied, Redis could not be asked (%s); requests "
                     "pass unchecked until it answers%s", self._name,
                     str(exc) or type(exc).__name__,
                     f" ({more} passed unchecked since the last notice)" if more else "")
