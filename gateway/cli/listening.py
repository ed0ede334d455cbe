"""The gateway's listening address: checked early, and a failed bind told in one line.

A port already taken (another Parley, another program on 8080) is the most common start-up
failure a newcomer meets; it must read as the fix (``set PARLEY_PORT``), not as asyncio's
traceback. ``check_free`` lets commands with a slow start-up fail before it; ``serve``
reports the bind failure itself the same way, since the port can be taken in between.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from aiohttp import web

__all__ = ["ListenError", "check_free", "serve"]

class ListenError(Exception):
    """The gateway cannot listen on its address; the message names it and the variable to
    change. A user error: the ``parley`` command prints it in one line, exit status 2."""


def check_free(host: str, port: int) -> None:
    """Raise ``ListenError`` now if the gateway could not listen on ``host:port``.

    Binds as asyncio's server will (each address ``host`` resolves to, ``SO_REUSEADDR`` so a
    port in TIME_WAIT after a restart does not count as taken) and lets go at once.
    """
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        for family, kind, protocol, _, address in addresses:
            with socket.socket(family, kind, protocol) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # as asyncio binds: IPv6 apart from IPv4
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
    except OSError as exc:
        error = _listen_error(exc, host, port)
        if error is None:
            raise
        raise error from None


def serve(app: web.Application, *, host: str, port: int, shutdown_timeout: float,
          print: Callable[[str], None]) -> None:
    """``web.run_app`` (``print`` is its own argument) whose failure to bind is a
    ``ListenError``; ``run_app`` has run the app's cleanup by then, so nothing it started
    is left running."""
    try:
        web.run_app(app, host=host, port=port, shutdown_timeout=shutdown_timeout, print=print)
    except OSError as exc:
        error = _listen_error(exc, host, port)
        if error is None:
            raise
        raise error from None


def _listen_error(exc: OSError, host: str, port: int) -> ListenError | None:
    """What a failure to bind means for the user; ``None`` for any other ``OSError``."""
    where = f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ListenError(f"cannot listen on {where}: {host!r} is not an address of this "
                           "machine; set PARLEY_HOST to one (127.0.0.1: this machine only, "
                           "0.0.0.0: every network interface)")
    if exc.errno == errno.EACCES:
        return ListenError(f"cannot listen on {where}: permission denied (ports below 1024 "
                           "need privileges); set PARLEY_PORT to a port from 1024 up")
    if exc.errno == errno.EADDRINUSE:
        return ListenError(f"cannot listen on {where}: the port is already in use by another "
                           "program; stop it, or set PARLEY_PORT to a free port")
    return None
