"""The WhatsApp channel's routes in the gateway, and its sender for the dispatcher."""

from __future__ import annotations

from aiohttp import web

from gateway.app_keys import SETTINGS

__all__ = ["add_whatsapp_channel"]


def add_whatsapp_channel(app: web.Application) -> None:
    """Register the routes and the sender, if WhatsApp is configured."""
    settings = app[SETTINGS].whatsapp
    if settings is None:
        return
