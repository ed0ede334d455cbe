"""The browser's outbox: the conversation as the browser shows it, and where the
dispatcher "sends" a webchat reply.

One Lua script per reply: skip it if this delivery is already in the outbox (a dispatcher
that died before ``XACK`` redelivers), else number it (the conversation's next reply
sequence), append it to the conversation's outbox stream (bounded: the newest
``size`` frames, kept ``ttl`` seconds after the last one, as is the counter: a browser
that comes back later finds a count below its own and follows it, ``widget.js``) and
``PUBLISH`` it on the
conversation's live channel, which every gateway replica holding a socket of that
conversation listens to. A browser that reconnects asks for the frames after the last
sequence it saw and reads them from the outbox, so a dropped socket, a sleeping laptop or
a restarted replica loses nothing.

The person's own messages are in the same stream, numbered by the same counter (``user``
frames): the ingress script appends one as it accepts a message (``echo_of`` builds it),
so a reloaded page, a second tab or a reopened browser redraws the whole conversation, in
order, from ``after(conversation, 0)``, within the same bound and TTL.
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis.asyncio as aioredis

from channels.models import InboundMessage, OutboundMessage
from channels.web.chat import (
    FeedbackFrame,
    MessageFrame,
    rated_frame_parts,
    reply_frame_parts,
    user_frame_parts,
)
from workers.bus import conversation_key, live_channel
from workers.inbox import Echo

__all__ = ["WebchatOutbox"]

_APPEND = """
local done = redis.call('GET', KEYS[1])
if done then return tonumber(done) end
local n = redis.call('INCR', KEYS[2])
local frame = ARGV[1] .. n .. ARGV[2]
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], n .. '-1', 'frame', frame)
redis.call('EXPIRE', KEYS[2], ARGV[4])
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
        # The inbound message's id too: a conversation that expired numbers from 1 again,
        # and its new reply 1 must not pass for the old one's redelivery.
        delivery = f"delivered:{message.sequence}:{message.index}:{message.in_reply_to}"
        keys = [conversation_key(cid, delivery),
                conversation_key(cid, "outbox_seq"), conversation_key(cid, "outbox")]
        await self._append(keys=keys, args=[prefix, suffix, self._size, self._ttl,
                                            live_channel(cid)])

    def echo_of(self, message: InboundMessage, frame: MessageFrame | FeedbackFrame) -> Echo:
        """The ``user`` frame of ``message`` (the ``rated`` frame of a rating) for the
        ingress script to append with it."""
        cid = message.conversation_id
        at = message.received_at or time.time()
        prefix, suffix = rated_frame_parts(frame, at=at) if isinstance(frame, FeedbackFrame) \
            else user_frame_parts(frame, at=at)
        return Echo(counter=conversation_key(cid, "outbox_seq"),
                    stream=conversation_key(cid, "outbox"), channel=live_channel(cid),
                    prefix=prefix, suffix=suffix, size=self._size, ttl_seconds=self._ttl)

    async def after(self, conversation_id: str, sequence: int) -> list[bytes]:
        """The frames (the person's and the bot's) numbered above ``sequence``, oldest
        first (what the outbox still holds of them)."""
        entries = cast(list[Any], await self._redis.xrange(
            conversation_key(conversation_id, "outbox"), min=f"{sequence + 1}-0"))
        return [fields[b"frame"] for _, fields in entries]

    async def last(self, conversation_id: str) -> int:
        """The newest frame sequence of the conversation (0 if none)."""
        return int(await self._redis.get(conversation_key(conversation_id, "outbox_seq")) or 0)
