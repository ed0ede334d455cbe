"""The messaging platforms the gateway serves: one line each, in start-up order.

Each entry is its package's ``gateway/<platform>/routes.py::add_channel(app)``: when the
platform's variables are set it adds its routes and a start-up step (after Redis, before
the dispatcher) that puts its sender and pacer into ``app[SENDERS]`` / ``app[PACERS]``;
when they are not, it adds nothing. Adding a platform is a folder in ``channels/`` (what
the platform is), one in ``gateway/`` (how the gateway serves it) and a line here.

The website (``gateway/web/``: its webhook and the browser chat) is not listed: it is
always served, and its adapter, outbox and hub are the app's own resources.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway.slack import routes as slack
from gateway.telegram import routes as telegram
from gateway.whatsapp import routes as whatsapp

__all__ = ["PLATFORMS", "AddChannel"]

AddChannel = Callable[[web.Application], None]

PLATFORMS: tuple[AddChannel, ...] = (
    slack.add_channel,
    telegram.add_channel,
    whatsapp.add_channel,
)
