"""``parley telegram set-webhook URL``: tell Telegram where to send the bot's updates.

It reads ``PARLEY_TELEGRAM_BOT_TOKEN``, ``PARLEY_TELEGRAM_WEBHOOK_SECRET`` (and
``PARLEY_TELEGRAM_API_URL``) from the environment (and the token from ``PARLEY_BOT_DIR``'s
``credentials.yml`` when the environment has none), so the secret Telegram will send is the
one the gateway checks, and asks only for the update types the gateway handles. Errors (no
token, a bad URL, Telegram refusing) are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gateway.env_values import GatewaySettingsError
from gateway.telegram.settings import TelegramSettings

__all__ = ["register"]


def register(commands: Any) -> None:
    telegram = commands.add_parser("telegram", help="Telegram channel set-up")
    tasks = telegram.add_subparsers(dest="telegram_task", required=True, metavar="TASK")
    hook = tasks.add_parser(
        "set-webhook", help="register the gateway's webhook URL with Telegram (needs "
        "PARLEY_TELEGRAM_BOT_TOKEN and PARLEY_TELEGRAM_WEBHOOK_SECRET)")
    hook.add_argument("url", help="the public HTTPS URL of the gateway's Telegram route, "
                      "such as https://bot.example.com/channels/telegram")
    hook.set_defaults(handler=_set_webhook)


def _set_webhook(args: argparse.Namespace) -> int:
    from gateway.credentials_file import read_credentials

    bot_dir = os.environ.get("PARLEY_BOT_DIR")  # its credentials.yml may hold the token
    credentials = read_credentials(Path(bot_dir), os.environ) if bot_dir else None
    settings = TelegramSettings.from_env(credentials.env if credentials else os.environ)
    if settings is None:
        raise GatewaySettingsError("PARLEY_TELEGRAM_BOT_TOKEN and "
                                   "PARLEY_TELEGRAM_WEBHOOK_SECRET must be set")
    url = args.url
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GatewaySettingsError(f"the webhook URL must be an https:// URL such as "
                                   f"https://bot.example.com/channels/telegram, got {url!r}")
    if not parsed.path.rstrip("/").endswith("/channels/telegram"):
        print("parley: note: the gateway serves Telegram at /channels/telegram; this URL "
              "does not end with it (fine only if a proxy rewrites it)", file=sys.stderr)
    return asyncio.run(_register(settings, url))


async def _register(settings: TelegramSettings, url: str) -> int:
    from channels.telegram.bot import (
        ALLOWED_UPDATES,
        TelegramSetupError,
        connect,
        make_bot,
        redacted_logs,
        set_webhook,
    )

    with redacted_logs(settings.bot_token):
        bot = make_bot(settings.bot_token, settings.api_url)
        try:
            me = await connect(bot)
            try:
                await set_webhook(bot, url, settings.webhook_secret)
            finally:
                await bot.shutdown()
        except TelegramSetupError as exc:
            print(f"parley: error: {exc}", file=sys.stderr)
            return 2
    print(f"Telegram accepted the webhook of @{me.username}: {url} (updates: "
          f"{', '.join(ALLOWED_UPDATES)}; signed with PARLEY_TELEGRAM_WEBHOOK_SECRET)")
    return 0
