"""``parley gateway``: serve the aiohttp gateway. With a desk database it needs the
encryption keys (``PARLEY_ENCRYPTION_KEYS``, or ``PARLEY_ENCRYPTION=off``) before it starts.
With ``PARLEY_BOT_DIR`` naming a folder with a ``credentials.yml``, that file configures
channels too (the environment wins per setting); it logs which channels are on."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="serve the gateway (needs PARLEY_REDIS_URL; "
                                  "each channel is on when its variables are set)")
    gateway.set_defaults(handler=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.app import create_app
    from gateway.channel_report import channel_report
    from gateway.cli.encryption_setup import configure_for_server
    from gateway.cli.listening import check_free, serve
    from gateway.credentials_file import settings_with_credentials

    bot_dir = os.environ.get("PARLEY_BOT_DIR")  # its credentials.yml configures channels
    settings, credentials = settings_with_credentials(os.environ, Path(bot_dir) if bot_dir
                                                      else None)
    # A database and no key: one line saying what to set (PARLEY_ENCRYPTION=off to refuse).
    configure_for_server(os.environ, database=settings.desk_database)
    check_free(settings.host, settings.port)  # a taken port: one line, before any start-up
    logging.getLogger("parley").setLevel(logging.INFO)
    app = create_app(settings)
    log = logging.getLogger("parley.gateway.channels")

    async def report_channels(_: web.Application) -> None:
        """Which channels are on, once they have started (after the app's own start-up:
        a channel that fails to start is one error line, not a report that it is on)."""
        for line in channel_report(settings, credentials):
            log.log(logging.WARNING if ": off:" in line else logging.INFO, "%s", line)

    app.on_startup.append(report_channels)
    # run_app stops accepting on SIGTERM/SIGINT, lets requests in flight finish
    # (shutdown_timeout) and then runs the cleanup contexts: the dispatcher flushes.
    serve(app, host=settings.host, port=settings.port, shutdown_timeout=10,
          print=lambda line: logging.getLogger("parley.gateway").info("%s", line))
    return 0
