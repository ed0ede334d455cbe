"""Limits on slow and greedy clients, from ``PARLEY_*`` variables.

- ``PARLEY_HEADER_TIMEOUT_SECONDS`` (15): a connection must complete its request's
  headers this long after it opened or after its previous response; it is also how long an
  idle keep-alive connection is kept (aiohttp's ``keepalive_timeout``, which is what cuts a
  request whose headers are still arriving).
- ``PARLEY_BODY_TIMEOUT_SECONDS`` (10): the whole body must arrive this long after the
  headers (408 otherwise).
- ``PARLEY_RATE_LIMIT_SESSIONS`` (``30/minute``): new browser conversations per client
  address, shared by every replica through Redis.
- ``PARLEY_RATE_LIMIT_SOCKETS`` (``120/minute``): WebSocket handshakes per client address,
  shared the same way.
- ``PARLEY_MAX_SOCKETS_PER_CLIENT`` (50): WebSockets open at once per client address, per
  gateway process; ``0`` for no cap.
- ``PARLEY_TRUSTED_PROXIES`` (none): addresses or CIDR networks of the reverse proxies in
  front of the gateway; only from those is ``X-Forwarded-For`` believed.

A rate is ``COUNT/PERIOD``: PERIOD is ``second``, ``minute``, ``hour`` or ``day``, or a
number of seconds such as ``90s`` (``20/90s``); ``off`` turns the limit off.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.env_values import GatewaySettingsError, integer, number

__all__ = ["LimitSettings", "Network", "Rate"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"(\d{1,7})/(?:(second|minute|hour|day)|(\d{1,5})s)")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` in any ``seconds``-long span."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


@dataclass(frozen=True, slots=True)
class LimitSettings:
    header_timeout_seconds: float = 15.0
    body_timeout_seconds: float = 10.0
    sessions: Rate | None = Rate(30, 60)   # None: no limit
    sockets: Rate | None = Rate(120, 60)
    max_sockets_per_client: int = 50       # 0: no cap
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LimitSettings:
        default = cls()
        return cls(
            header_timeout_seconds=number(env, "PARLEY_HEADER_TIMEOUT_SECONDS",
                                          default.header_timeout_seconds, 1, 3600),
            body_timeout_seconds=number(env, "PARLEY_BODY_TIMEOUT_SECONDS",
                                        default.body_timeout_seconds, 1, 600),
            sessions=_rate(env, "PARLEY_RATE_LIMIT_SESSIONS", default.sessions),
            sockets=_rate(env, "PARLEY_RATE_LIMIT_SOCKETS", default.sockets),
            max_sockets_per_client=integer(env, "PARLEY_MAX_SOCKETS_PER_CLIENT",
                                           default.max_sockets_per_client, 0, 1_000_000),
            trusted_proxies=_networks(env, "PARLEY_TRUSTED_PROXIES"))


def _rate(env: Mapping[str, str], name: str, default: Rate | None) -> Rate | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip().lower().replace(" ", "")
    if text == "off":
        return None
    match = _RATE.fullmatch(text)
    seconds = 0
    if match:
        seconds = _PERIODS[match[2]] if match[2] else int(match[3])
    if not match or int(match[1]) < 1 or not 1 <= seconds <= 86400:
        raise GatewaySettingsError(
            f"{name} must be COUNT/PERIOD with PERIOD second, minute, hour, day or a number "
            f"of seconds up to 86400 such as 90s (e.g. 30/minute, 20/90s), or off; "
            f"got {raw!r}")
    return Rate(int(match[1]), seconds)


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    networks = []
    for item in (part.strip() for part in env.get(name, "").split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise GatewaySettingsError(
                f"{name} must be a comma-separated list of IP addresses or CIDR networks "
                f"such as 10.0.0.5,192.168.0.0/16,fd00::/8; got {item!r}") from None
    return tuple(networks)
