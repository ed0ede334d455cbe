"""Channels: Parley's common event model (``channels.models``); the channel adapters
(web, Slack, Telegram, WhatsApp) are not built yet."""
