"""``parley gateway``: serve the aiohttp gateway. With a desk database it needs the
encryption keys (``PARLEY_ENCRYPTION_KEYS``, or ``PARLEY_ENCRYPTION=off``) before it starts."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="serve the gateway (needs PARLEY_REDIS_URL; "
                                  "each channel is on when its variables are set)")
    gateway.set_defaults(handler=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.cli.encryption_setup import configure_for_server
    from gateway.cli.listening import check_free, serve
    from gateway.settings import GatewaySettings

    settings = GatewaySettings.from_env()
    # A database and no key: one line saying what to set (PARLEY_ENCRYPTION=off to refuse).
    configure_for_server(os.environ, database=settings.desk_database)
    check_free(settings.host, settings.port)  # a taken port: one line, before any start-up
    logging.getLogger("parley").setLevel(logging.INFO)
    # run_app stops accepting on SIGTERM/SIGINT, lets requests in flight finish
    # (shutdown_timeout) and then runs the cleanup contexts: the dispatcher flushes.
    serve(create_app(settings), host=settings.host, port=settings.port, shutdown_timeout=10,
          print=lambda line: logging.getLogger("parley.gateway").info("%s", line))
    return 0
