"""How the gateway serves Telegram (the platform itself: ``channels/telegram/``).

- ``routes``: ``add_channel``, the webhook route, the bot connected at start-up, the
  sender and its pacer, when Telegram is configured;
- ``settings``: ``TelegramSettings``, the ``PARLEY_TELEGRAM_*`` variables (README,
  "Telegram");
- ``command``: ``parley telegram set-webhook URL`` (registered by ``gateway.cli``).

The modules are not imported here: ``gateway.settings`` imports ``settings`` before the
app's keys, which ``routes`` needs, exist (``gateway.platforms`` imports ``routes``).
"""

__all__ = ["command", "routes", "settings"]
