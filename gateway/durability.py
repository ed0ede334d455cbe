"""Says at start-up what the Redis in use keeps through a crash.

A message is acknowledged to the platform once the ingress script has run; whether it
survives a Redis crash (SIGKILL, a power cut, an out-of-memory kill) depends on the
server's persistence, which Parley does not set (README, "Reliability"): with
``appendfsync always`` every acknowledged write is on disk first; with ``everysec`` up
to about a second of them can be lost; without the append-only file everything since the
last snapshot. The gateway reads the setting once and logs what it means; a server that
refuses ``CONFIG`` (managed services often do) is said to be unknown.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["durability_note", "log_durability"]

_log = logging.getLogger("parley.gateway.durability")


def durability_note(appendonly: str, appendfsync: str) -> tuple[int, str]:
    """The log level and line for a server's ``appendonly`` and ``appendfsync``."""
    if appendonly != "yes":
        return logging.WARNING, (
            "Redis has no append-only file (appendonly no): a Redis crash loses the "
            "messages acknowledged since its last snapshot, and their conversations' "
            "state; for production set appendonly yes and appendfsync always")
    if appendfsync != "always":
        return logging.WARNING, (
            f"Redis fsyncs its append-only file {appendfsync}: a Redis crash can lose up "
            "to about a second of acknowledged messages and turns (a clean restart loses "
            "nothing); appendfsync always closes that window")
    return logging.INFO, ("Redis writes every acknowledged message to disk before it is "
                          "acknowledged (appendfsync always)")


async def log_durability(client: aioredis.Redis) -> None:
    try:
        config = await client.config_get("append*")
    except (RedisError, OSError) as exc:
        _log.info("Redis's persistence could not be read (%s): what a Redis crash loses "
                  "depends on it (README, Reliability)", exc)
        return
    level, line = durability_note(str(config.get("appendonly", "no")),
                                  str(config.get("appendfsync", "")))
    _log.log(level, line)
