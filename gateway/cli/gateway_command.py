"""``parley gateway``: serve the aiohttp gateway."""

from __future__ import annotations

import argparse
import logging
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="serve the gateway (needs PARLEY_REDIS_URL; "
                                  "each channel is on when its variables are set)")
    gateway.set_defaults(handler=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.cli.listening import check_free, serve
    from gateway.settings import GatewaySettings

    settings = GatewaySettings.from_env()
    check_free(settings.host, settings.port)  # a taken port: one line, before any start-up
    logging.getLogger("parley").setLevel(logging.INFO)
    # run_app stops accepting on SIGTERM/SIGINT, lets requests in flight finish
    # (shutdown_timeout) and then runs the cleanup contexts: the dispatcher flushes.
    serve(create_app(settings), host=settings.host, port=settings.port, shutdown_timeout=10,
          print=lambda line: logging.getLogger("parley.gateway").info("%s", line))
    return 0
