"""What the Telegram channel keeps in Redis: long button payloads, and the progress of a
reply sent in several parts.

- ``parley:telegram:button:<digest>`` → a payload too long for ``callback_data`` (64 bytes),
  written before the message carrying the button is sent, kept ``BUTTON_TTL`` seconds (a
  button pressed later than that is answered "expired" and not enqueued).
- ``parley:telegram:parts:<conversation>:<sequence>:<index>:<in reply to>`` → how many parts
  of that reply Telegram accepted, so a retry (by this gateway or another that claimed the
  reply) goes on with the next part instead of sending the first ones again; kept
  ``PARTS_TTL`` seconds.

Neither outlives the conversation's own state: ``retention_seconds`` (the gateway passes
``PARLEY_RETENTION_DAYS``, ``workers.retention``) caps both expiries.

Redis errors surface as ``redis.RedisError``; the caller decides what they mean (a 503 to
Telegram on the webhook, a transient send error in the sender).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from channels.models import Button, OutboundMessage
from channels.telegram.render import callback_data, is_reference

__all__ = ["BUTTON_TTL", "PARTS_TTL", "TelegramState"]

BUTTON_TTL = 30 * 86400
PARTS_TTL = 86400
_BUTTON = "parley:telegram:button:"
_PARTS = "parley:telegram:parts:"


class TelegramState:
    def __init__(self, client: aioredis.Redis, *, retention_seconds: int | None = None
                 ) -> None:
        self._redis = client
        cap = retention_seconds or BUTTON_TTL
        self._button_ttl = max(1, min(BUTTON_TTL, cap))
        self._parts_ttl = max(1, min(PARTS_TTL, cap))

    async def remember_buttons(self, buttons: tuple[Button, ...]) -> None:
        """Keep the payload of every button that is sent as a reference."""
        mapping = {_BUTTON + data: b.payload for b in buttons
                   if is_reference(data := callback_data(b.payload))}
        if not mapping:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, payload in mapping.items():
                pipe.set(key, payload, ex=self._button_ttl)
            await pipe.execute()

    async def button_payload(self, data: str) -> str | None:
        """The payload a pressed button's ``callback_data`` stands for; ``None`` if it was a
        reference that expired (or never existed)."""
        if not is_reference(data):
            return data
        value = await self._redis.get(_BUTTON + data)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def parts_sent(self, message: OutboundMessage) -> int:
        value = await self._redis.get(_parts_key(message))
        return 0 if value is None else int(value)

    async def part_sent(self, message: OutboundMessage, count: int) -> None:
        await self._redis.set(_parts_key(message), count, ex=self._parts_ttl)


def _parts_key(message: OutboundMessage) -> str:
    # The inbound message's id too: an expired conversation numbers its replies from 1 again.
    return (f"{_PARTS}{message.conversation_id}:{message.sequence}:{message.index}:"
            f"{message.in_reply_to}")
