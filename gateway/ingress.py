"""Ingress: check, dedupe, number and enqueue an accepted message in one atomic step.

Every channel's message first passes the identifier check (``channels.identifiers``: a
400 before anything is stored), then ``workers.inbox.ENQUEUE``: the dedupe key, the next
sequence number, the message in its conversation's inbox, and a serve task unless one is
queued. Either all happen or none: the platform is answered only after the script
returned, so an acknowledged message is in Redis, and a duplicate (same channel and
platform message id within the TTL) is recognised without touching the queue. The async
Redis client keeps the event loop free.

A channel that can ask its client to slow down (the website webhook and the browser chat:
429) passes ``cap``: a conversation with that many messages still unserved takes no more
(``ConversationFlooded``). The messaging platforms cannot be asked that (Slack and
Telegram would redeliver, then drop); their flooding conversations are kept in bounds by
the workers instead (``workers.tasks.BATCH``).

A channel that shows a conversation's history to its clients (the browser chat) passes an
``Echo``: the same script then also numbers a frame of the message and appends it to the
conversation's stream and publishes it. Recorded in the step that accepts the message, it
is there exactly when the message is: a crash cannot leave an answered message missing
from the history, and a duplicate adds nothing.

The same step renews the conversation's expiry (``PARLEY_RETENTION_DAYS``,
``workers.retention``): a conversation expires that long after its last message.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from prometheus_client import Counter

from channels.identifiers import checked_inbound
from channels.models import InboundMessage
from workers.inbox import DUPLICATE, ENQUEUE, FLOODED, Echo, enqueue_call
from workers.retention import RetentionSettings

__all__ = ["ConversationFlooded", "Echo", "Ingress", "status"]


class ConversationFlooded(Exception):
    """The conversation has ``cap`` messages waiting to be answered; the client should
    wait for the answers (429) before it sends more."""


class Ingress:
    def __init__(self, client: aioredis.Redis, *, dedupe_ttl: int,
                 outcomes: Counter | None = None, retention: RetentionSettings | None = None
                 ) -> None:
        self._script = client.register_script(ENQUEUE)
        self._ttl = dedupe_ttl
        # The conversation's expiry, renewed by each message (workers.retention).
        self._retention = (retention or RetentionSettings()).conversation_seconds
        self._outcomes = outcomes  # labelled (channel, "accepted" | "duplicate" | "flooded")

    async def accept(self, message: InboundMessage, *, echo: Echo | None = None,
                     cap: int = 0, counted: bool = True) -> int | None:
        """Enqueue ``message`` (and append ``echo``); its sequence number, or ``None`` if it
        is a duplicate (then nothing is enqueued nor appended). ``cap`` > 0: refuse it
        (``ConversationFlooded``) when that many of the conversation's messages wait.
        ``counted=False``: an event the gateway made itself, not a person's message, is
        left out of the metrics."""
        message = checked_inbound(message)  # BadRequest (400) before anything is stored
        keys, args = enqueue_call(message, now_ms=int(time.time() * 1000),
                                  dedupe_ttl=self._ttl, cap=cap, echo=echo,
                                  retention_seconds=self._retention)
        answer = int(await self._script(keys=keys, args=args))
        outcome = {DUPLICATE: "duplicate", FLOODED: "flooded"}.get(answer, "accepted")
        if self._outcomes is not None and counted:
            self._outcomes.labels(message.channel, outcome).inc()
        if answer == FLOODED:
            raise ConversationFlooded(message.conversation_id)
        return answer or None


def status(sequence: int | None) -> str:
    """What ``accept``'s result means to the sender."""
    return "duplicate" if sequence is None else "accepted"
