"""The Telegram channel's routes in the gateway, and its sender for the dispatcher."""

from __future__ import annotations

from aiohttp import web

from gateway.app_keys import SETTINGS

__all__ = ["add_telegram_channel"]


def add_telegram_channel(app: web.Application) -> None:
    """Register the routes and the sender, if Telegram is configured."""
    settings = app[SETTINGS].telegram
    if settings is None:
        return
