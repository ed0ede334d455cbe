"""The desk's event stream (``parley:desk:events``) as the desk's own code writes and
reads it: one way to append an event, one way to join a consumer group. The workers'
commit and the desk's Lua operations append theirs inside their scripts."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from workers.bus import DESK_EVENTS_STREAM

__all__ = ["STREAM_MAXLEN", "add_event", "ensure_group"]

STREAM_MAXLEN = 100_000  # events kept (approximately), as the scripts keep them


async def add_event(client: aioredis.Redis, kind: str, *, conversation_id: str,
                    handoff_id: str, team: str, epoch: int, **data: Any) -> None:
    """Append one event that changes no owner (so it carries the current epoch)."""
    body = {"type": kind, "conversation_id": conversation_id, "handoff_id": handoff_id,
            "team": team, "at": time.time(), "epoch": epoch, **data}
    await client.xadd(DESK_EVENTS_STREAM, {"type": kind, "data": json.dumps(body)},
                      maxlen=STREAM_MAXLEN, approximate=True)


async def ensure_group(client: aioredis.Redis, group: str, *, start: str,
                       stream: str = DESK_EVENTS_STREAM) -> None:
    """Create the consumer group ``group`` on ``stream`` (the desk's events unless told
    another; from ``start``: "0" to read what the stream holds, "$" for what comes next)
    unless it exists."""
    try:
        await client.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
