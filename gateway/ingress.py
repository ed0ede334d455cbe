"""Ingress: dedupe, sequence and enqueue an accepted message in one atomic step.

One Lua script does ``SET dedupe NX EX`` → ``INCR seq`` → ``LPUSH`` the Celery message with
that sequence spliced in. Either all happen or none: the platform is answered only after
the script returned, so an acknowledged message is in Redis, and a duplicate (same channel
and platform message id within the TTL) is recognised without touching the queue. The
async Redis client keeps the event loop free.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from prometheus_client import Counter

from channels.models import InboundMessage
from workers.bus import INBOUND_QUEUE, conversation_key, dedupe_key, inbound_template

__all__ = ["Ingress", "status"]

_ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local sequence = redis.call('INCR', KEYS[2])
redis.call('LPUSH', KEYS[3], ARGV[2] .. sequence .. ARGV[3])
return sequence
"""


class Ingress:
    def __init__(self, client: aioredis.Redis, *, dedupe_ttl: int,
                 outcomes: Counter | None = None) -> None:
        self._script = client.register_script(_ENQUEUE)
        self._ttl = dedupe_ttl
        self._outcomes = outcomes  # labelled (channel, "accepted" | "duplicate")

    async def accept(self, message: InboundMessage) -> int | None:
        """Enqueue ``message``; its sequence number, or ``None`` if it is a duplicate."""
        prefix, suffix = inbound_template(message)
        keys = [dedupe_key(message.channel, message.message_id),
                conversation_key(message.conversation_id, "seq"), INBOUND_QUEUE]
        sequence = int(await self._script(keys=keys, args=[self._ttl, prefix, suffix]))
        if self._outcomes is not None:
            self._outcomes.labels(message.channel, status(sequence or None)).inc()
        return sequence or None


def status(sequence: int | None) -> str:
    """What ``accept``'s result means to the sender."""
    return "duplicate" if sequence is None else "accepted"
