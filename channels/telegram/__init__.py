"""Telegram: webhook updates in, Bot API calls out, through python-telegram-bot. Creating
the bot with BotFather and registering the webhook (``parley telegram set-webhook``):
README, "Messaging channels" → "Telegram".

- ``adapter``: ``TelegramAdapter`` (verify the secret token, parse, resolve long button
  payloads, send) and the secret-token header (``SECRET_HEADER``, ``verify_secret``);
- ``bot``: the ``telegram.Bot`` client, connected with ``getMe``, its token kept out of logs;
- ``parse``: an update → ``InboundMessage`` (pure; what is not for the bot is ignored);
- ``render``: ``OutboundMessage`` → the Bot API calls that show it (pure);
- ``state``: what the channel keeps in Redis (long payloads, parts of a split reply).

How the gateway serves it: ``gateway/telegram/``.
"""

from channels.telegram.adapter import (
    SECRET_HEADER,
    TelegramAdapter,
    secret_headers,
    verify_secret,
)

__all__ = ["SECRET_HEADER", "TelegramAdapter", "secret_headers", "verify_secret"]
