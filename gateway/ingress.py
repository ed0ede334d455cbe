"""Ingress: dedupe, sequence and enqueue an accepted message in one atomic step.

One Lua script does ``SET dedupe NX EX`` → ``INCR seq`` → ``LPUSH`` the Celery message with
that sequence spliced in. Either all happen or none: the platform is answered only after
the script returned, so an acknowledged message is in Redis, and a duplicate (same channel
and platform message id within the TTL) is recognised without touching the queue. The
async Redis client keeps the event loop free.

A channel that shows a conversation's history to its clients (the browser chat) passes an
``Echo``: the same script then also numbers a frame of the message and appends it to the
conversation's stream (``XADD`` with ``MAXLEN``, ``EXPIRE``) and publishes it. Recorded in
the step that accepts the message, it is there exactly when the message is: a crash cannot
leave an answered message missing from the history, and a duplicate adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter

from channels.identifiers import checked_inbound
from channels.models import InboundMessage
from workers.bus import INBOUND_QUEUE, conversation_key, dedupe_key, inbound_template

__all__ = ["Echo", "Ingress", "status"]

_ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local sequence = redis.call('INCR', KEYS[2])
redis.call('LPUSH', KEYS[3], ARGV[2] .. sequence .. ARGV[3])
if #KEYS == 5 then
  local n = redis.call('INCR', KEYS[4])
  local frame = ARGV[4] .. n .. ARGV[5]
  redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[6], n .. '-1', 'frame', frame)
  redis.call('EXPIRE', KEYS[5], ARGV[7])
  redis.call('PUBLISH', ARGV[8], frame)
end
return sequence
"""


@dataclass(frozen=True, slots=True)
class Echo:
    """A frame of the accepted message for its conversation's stream of frames.

    The frame is ``prefix .. n .. suffix``, ``n`` the next value of ``counter``; the entry
    id in ``stream`` is ``n-1`` (so a reader resumes with ``XRANGE (n``); the stream keeps
    the newest ``size`` entries and expires ``ttl_seconds`` after the last one; the frame
    is published on ``channel``."""

    counter: str
    stream: str
    channel: str
    prefix: bytes
    suffix: bytes
    size: int
    ttl_seconds: int


class Ingress:
    def __init__(self, client: aioredis.Redis, *, dedupe_ttl: int,
                 outcomes: Counter | None = None) -> None:
        self._script = client.register_script(_ENQUEUE)
        self._ttl = dedupe_ttl
        self._outcomes = outcomes  # labelled (channel, "accepted" | "duplicate")

    async def accept(self, message: InboundMessage, *, echo: Echo | None = None,
                     counted: bool = True) -> int | None:
        """Enqueue ``message`` (and append ``echo``); its sequence number, or ``None`` if it
        is a duplicate (then nothing is enqueued nor appended). ``counted=False``: an event
        the gateway made itself, not a person's message, is left out of the metrics."""
        message = checked_inbound(message)  # BadRequest (400) before anything is stored
        prefix, suffix = inbound_template(message)
        keys = [dedupe_key(message.channel, message.message_id),
                conversation_key(message.conversation_id, "seq"), INBOUND_QUEUE]
        args: list[bytes | str | int] = [self._ttl, prefix, suffix]
        if echo is not None:
            keys += [echo.counter, echo.stream]
            args += [echo.prefix, echo.suffix, echo.size, echo.ttl_seconds, echo.channel]
        sequence = int(await self._script(keys=keys, args=args))
        if self._outcomes is not None and counted:
            self._outcomes.labels(message.channel, status(sequence or None)).inc()
        return sequence or None


def status(sequence: int | None) -> str:
    """What ``accept``'s result means to the sender."""
    return "duplicate" if sequence is None else "accepted"
