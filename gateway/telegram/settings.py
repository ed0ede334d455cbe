"""Telegram channel settings from ``PARLEY_TELEGRAM_*`` variables (None when not configured).

- ``PARLEY_TELEGRAM_BOT_TOKEN`` (required): the token from @BotFather, ``<bot id>:<secret>``.
- ``PARLEY_TELEGRAM_WEBHOOK_SECRET`` (required): the ``secret_token`` given to ``setWebhook``;
  Telegram sends it back in ``X-Telegram-Bot-Api-Secret-Token`` with every update.
- ``PARLEY_TELEGRAM_API_URL``: the Bot API base (default ``https://api.telegram.org/bot``), for
  a local Bot API server or a test fake; the token is appended to it.
- ``PARLEY_TELEGRAM_START_PAYLOAD``: what ``/start`` means to the bot (default ``/greet``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.env_values import GatewaySettingsError, http_url

__all__ = ["DEFAULT_API_URL", "TelegramSettings"]

DEFAULT_API_URL = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PAYLOAD = re.compile(r"/[A-Za-z_][\w\-./]*(\{.*\})?", re.S)
_NAMES = ("PARLEY_TELEGRAM_BOT_TOKEN", "PARLEY_TELEGRAM_WEBHOOK_SECRET",
          "PARLEY_TELEGRAM_API_URL", "PARLEY_TELEGRAM_START_PAYLOAD")


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    bot_token: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    start_payload: str = "/greet"

    @property
    def bot_id(self) -> str:
        """The number before ':' in the token: the bot's user id, which is not secret."""
        return self.bot_token.split(":", 1)[0]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        if not any(env.get(name) for name in _NAMES):
            return None
        token = env.get("PARLEY_TELEGRAM_BOT_TOKEN") or ""
        if not token:
            raise GatewaySettingsError("PARLEY_TELEGRAM_BOT_TOKEN must be set to the token "
                                       "@BotFather gave (<bot id>:<secret>) to use Telegram")
        if not _TOKEN.fullmatch(token):  # never echo it: it is the bot's password
            raise GatewaySettingsError("PARLEY_TELEGRAM_BOT_TOKEN must look like "
                                       "<digits>:<20 to 100 letters, digits, _ or ->, as "
                                       "@BotFather gives it")
        secret = env.get("PARLEY_TELEGRAM_WEBHOOK_SECRET") or ""
        if not _SECRET.fullmatch(secret):
            raise GatewaySettingsError("PARLEY_TELEGRAM_WEBHOOK_SECRET must be 1 to 256 "
                                       "characters of A-Z, a-z, 0-9, _ and - (Telegram's rule "
                                       "for a webhook secret_token)" +
                                       ("" if secret else "; it is not set"))
        start = env.get("PARLEY_TELEGRAM_START_PAYLOAD") or "/greet"
        if not _PAYLOAD.fullmatch(start):
            raise GatewaySettingsError("PARLEY_TELEGRAM_START_PAYLOAD must be an intent payload "
                                       f"such as /greet or /greet{{\"source\": \"tg\"}}, "
                                       f"got {start!r}")
        api_url = http_url(env, "PARLEY_TELEGRAM_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL
        return cls(bot_token=token, webhook_secret=secret, api_url=api_url,
                   start_payload=start)
