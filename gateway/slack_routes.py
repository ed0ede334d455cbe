"""The Slack channel's routes in the gateway, and its sender for the dispatcher."""

from __future__ import annotations

from aiohttp import web

from gateway.app_keys import SETTINGS

__all__ = ["add_slack_channel"]


def add_slack_channel(app: web.Application) -> None:
    """Register the routes and the sender, if Slack is configured."""
    settings = app[SETTINGS].slack
    if settings is None:
        return
