"""The browser's outbox: where the dispatcher "sends" a webchat reply.

One Lua script per reply: skip it if this delivery is already in the outbox (a dispatcher
that died before ``XACK`` redelivers), else number it (the conversation's next reply
sequence), append it to the conversation's outbox stream (bounded: the newest
``size`` replies, kept ``ttl`` seconds after the last one; the counter itself never
expires, so a sequence is never reused) and ``PUBLISH`` it on the
conversation's live channel, which every gateway replica holding a socket of that
conversation listens to. A browser that reconnects asks for the replies after the last
sequence it saw and reads them from the outbox, so a dropped socket, a sleeping laptop or
a restarted replica loses nothing.
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis.asyncio as aioredis

from channels.models import OutboundMessage
from channels.webchat import reply_frame_parts
from workers.bus import conversation_key, live_channel

__all__ = ["WebchatOutbox"]

_APPEND = """
local done = redis.call('GET', KEYS[1])
if done then return tonumber(done) end
local n = redis.call('INCR', KEYS[2])
local frame = ARGV[1] .. n .. ARGV[2]
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], n .. '-1', 'frame', frame)
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SET', KEYS[1], n, 'EX', ARGV[4])
redis.call('PUBLISH', ARGV[5], frame)
return n
"""


class WebchatOutbox:
    """The dispatcher's sender for the ``webchat`` channel, and the backlog reader."""

    def __init__(self, client: aioredis.Redis, *, size: int, ttl_seconds: int) -> None:
        self._redis = client
        self._append = client.register_script(_APPEND)
        self._size = size
        self._ttl = ttl_seconds

    async def send(self, message: OutboundMessage) -> None:
        cid = message.conversation_id
        prefix, suffix = reply_frame_parts(message, at=time.time())
        keys = [conversation_key(cid, f"delivered:{message.sequence}:{message.index}"),
                conversation_key(cid, "outbox_seq"), conversation_key(cid, "outbox")]
        await self._append(keys=keys, args=[prefix, suffix, self._size, self._ttl,
                                            live_channel(cid)])

    async def after(self, conversation_id: str, sequence: int) -> list[bytes]:
        """The reply frames numbered above ``sequence``, oldest first (what the outbox
        still holds of them)."""
        entries = cast(list[Any], await self._redis.xrange(
            conversation_key(conversation_id, "outbox"), min=f"{sequence + 1}-0"))
        return [fields[b"frame"] for _, fields in entries]

    async def last(self, conversation_id: str) -> int:
        """The newest reply sequence of the conversation (0 if none)."""
        return int(await self._redis.get(conversation_key(conversation_id, "outbox_seq")) or 0)
