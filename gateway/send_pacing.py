"""Send pacing: the rates a platform tolerates, per chat and per bot, before it answers 429.

Slack allows about one message a second per channel, Telegram one a second per chat and
thirty a second per bot. The dispatcher waits on the channel's pacer before every send, so
a burst of replies is spread out instead of drawing 429s (which are still honoured, with
their ``Retry-After``, when they come). Limits hold per gateway process: with N replicas the
platform may see up to N times the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from channels.models import OutboundMessage

__all__ = ["SendPacer"]


def _by_conversation(message: OutboundMessage) -> str:
    return message.conversation_id


class SendPacer:
    """``per_chat`` and ``overall`` are messages per second (``None``: no limit);
    ``chat_of`` names the platform's unit of the per-chat limit (a Slack channel, say,
    for all of its threads)."""

    def __init__(self, *, per_chat: float | None = None, overall: float | None = None,
                 chat_of: Callable[[OutboundMessage], str] = _by_conversation,
                 sweep_every: float = 60.0) -> None:
        self._per_chat = per_chat
        self._overall = _limiter(overall) if overall else None
        self._chat_of = chat_of
        self._chats: dict[str, AsyncLimiter] = {}
        self._sweep_every = sweep_every
        self._next_sweep = time.monotonic() + sweep_every

    async def wait(self, message: OutboundMessage) -> None:
        """Return when ``message`` may be sent without exceeding either rate."""
        if self._per_chat:
            await self._chat_limiter(self._chat_of(message)).acquire()
        if self._overall is not None:
            await self._overall.acquire()

    def _chat_limiter(self, chat: str) -> AsyncLimiter:
        now = time.monotonic()
        if now >= self._next_sweep:
            # A chat whose bucket has drained needs no limiter: a new one is the same.
            self._chats = {k: v for k, v in self._chats.items() if not v.has_capacity()}
            self._next_sweep = now + self._sweep_every
        limiter = self._chats.get(chat)
        if limiter is None:
            limiter = self._chats[chat] = AsyncLimiter(1, 1 / float(self._per_chat or 1))
        return limiter

    @property
    def chats_tracked(self) -> int:
        return len(self._chats)


def _limiter(rate: float) -> AsyncLimiter:
    """``rate`` per second with a burst of at most one second's worth (at least one)."""
    burst = max(1.0, rate)
    return AsyncLimiter(burst, burst / rate)
