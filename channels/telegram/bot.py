"""The ``telegram.Bot`` client: built, connected (``getMe``) and used to register the webhook,
with its errors translated at this edge and its token kept out of logs and messages.

    ChannelError
    └── TelegramSetupError   the Bot API refused the token or the webhook, or is unreachable

PTB's ``Bot`` does not retry by itself (only ``ExtBot`` with an ``AIORateLimiter`` does, and it
is not used), and httpx's transport makes one attempt: the dispatcher owns retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from telegram import Bot
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from channels.errors import ChannelError
from channels.telegram.parse import BotIdentity

__all__ = ["ALLOWED_UPDATES", "TelegramSetupError", "connect", "make_bot", "redacted_logs",
           "set_webhook"]

ALLOWED_UPDATES = ("message", "callback_query")
# Loggers whose records can carry the token (it is part of every Bot API URL).
_TOKEN_LOGGERS = ("httpx", "telegram.Bot")


class TelegramSetupError(ChannelError):
    pass


def make_bot(token: str, api_url: str) -> Bot:
    """A bot client on ``api_url`` (the token is appended to it, as Telegram's URLs go).

    Up to 64 connections, as many as the dispatcher may have sends in flight; a send that
    cannot get one within 3 s fails as a timeout (transient) rather than waiting unbounded."""
    request = HTTPXRequest(connection_pool_size=64, connect_timeout=5.0, read_timeout=10.0,
                           write_timeout=10.0, pool_timeout=3.0)
    return Bot(token, base_url=api_url, request=request)


async def connect(bot: Bot) -> BotIdentity:
    """Open the bot's connections and ask who it is (``getMe``): its id and the username by
    which groups address it. On failure the connections are closed again."""
    try:
        await bot.initialize()
        me = bot.bot
    except TelegramError as exc:
        await bot.shutdown()
        raise _setup_error(bot, exc, "getMe") from None  # PTB's message holds the token
    return BotIdentity(id=me.id, username=me.username or "")


async def set_webhook(bot: Bot, url: str, secret: str,
                      updates: Sequence[str] = ALLOWED_UPDATES) -> None:
    """Point Telegram's updates for this bot at ``url``, signed with ``secret``."""
    try:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=list(updates))
    except TelegramError as exc:
        raise _setup_error(bot, exc, "setWebhook") from None


def _setup_error(bot: Bot, exc: TelegramError, method: str) -> TelegramSetupError:
    if isinstance(exc, InvalidToken):
        return TelegramSetupError("Telegram rejected the bot token "
                                  "(PARLEY_TELEGRAM_BOT_TOKEN): Unauthorized")
    reason = exc.message.replace(bot.token, "<token>")
    if isinstance(exc, BadRequest | Forbidden | Conflict):
        return TelegramSetupError(f"Telegram refused {method}: {reason}")
    return TelegramSetupError(f"{method} failed: the Telegram API at "
                              f"{bot.base_url.replace(bot.token, '<token>')} did not answer "
                              f"well ({type(exc).__name__}: {reason})")


class _Redact(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        return True


@contextmanager
def redacted_logs(token: str) -> Iterator[None]:
    """While open, records of httpx and PTB show ``<token>`` where the token would be (they
    log request URLs at INFO and DEBUG, and every Bot API URL holds the token)."""
    redact = _Redact(token)
    loggers = [logging.getLogger(name) for name in _TOKEN_LOGGERS]
    for logger in loggers:
        logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redact)
