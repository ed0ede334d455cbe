"""``parley archiver``: only the archiver (``desk.archiver``), for a deployment that runs it
apart from the gateways (which then run with ``PARLEY_ARCHIVER=off``), or beside them.

It needs ``PARLEY_REDIS_URL``; the database is the one ``parley db upgrade`` names
(``PARLEY_DATABASE_URL``, or the bot folder's ``parley.db``, ``--bot-dir``). A database of
record must be at this code's schema (else: "run `parley db upgrade`"); the bot folder's
file is upgraded, as the gateway does. It stores the records encrypted, so it needs
``PARLEY_ENCRYPTION_KEYS`` (or ``PARLEY_ENCRYPTION=off``), as the gateway does. SIGTERM
or SIGINT stops it after the batch in hand (what it did not acknowledge is stored by the
next archiver). ``--metrics-port`` serves the ``parley_archive_*`` metrics for Prometheus.
It also purges the conversations older than ``PARLEY_ARCHIVE_RETENTION_DAYS`` (hourly, one
archiver or gateway at a time: ``desk.purge_job``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
from typing import Any
from urllib.parse import urlparse

from gateway.cli.db_command import add_bot_dir_argument, resolve_database_url

__all__ = ["register"]


def register(commands: Any) -> None:
    archiver = commands.add_parser(
        "archiver", help="store the turn records of parley:archive in the desk's database "
        "(needs PARLEY_REDIS_URL)")
    archiver.add_argument("--metrics-port", type=_port, metavar="PORT",
                          help="serve the archive's Prometheus metrics on this port "
                          "(default: none)")
    archiver.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                          help="the address of --metrics-port (default: 127.0.0.1)")
    archiver.add_argument("--batch", type=_positive, default=500,
                          help="records stored per transaction, at most (default: 500)")
    archiver.add_argument("--claim-idle-seconds", type=_positive, default=60,
                          help="take over the records another archiver held this long "
                          "without storing them (it died; default: 60)")
    archiver.add_argument("--metrics-interval", type=float, default=5.0,
                          help=argparse.SUPPRESS)
    add_bot_dir_argument(archiver)
    archiver.set_defaults(handler=_archiver)


def _positive(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {raw!r}")
    return int(raw)


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {raw!r}")
    return int(raw)


def _archiver(args: argparse.Namespace) -> int:
    from gateway.cli.encryption_setup import configure_for_server
    from gateway.cli.listening import ListenError
    from gateway.settings import GatewaySettingsError

    redis_url = os.environ.get("PARLEY_REDIS_URL", "")
    if urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise GatewaySettingsError("PARLEY_REDIS_URL must be a redis:// URL such as "
                                   "redis://127.0.0.1:6379/0" + ("" if redis_url else
                                                                 " (it is not set)"))
    database = resolve_database_url(args.bot_dir)
    configure_for_server(os.environ, database=database)  # no key: one line, exit 2
    registry = None
    if args.metrics_port is not None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        try:
            start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
        except OSError as exc:
            raise ListenError(f"cannot serve metrics on {args.metrics_host}:"
                              f"{args.metrics_port}: {exc.strerror or exc}") from exc
    plain = os.environ.get("PARLEY_DATABASE_URL")
    asyncio.run(_serve(redis_url, database, args, registry,
                       upgrade=plain is None or not plain.strip()))
    return 0


async def _serve(redis_url: str, database: str, args: argparse.Namespace, registry: Any,
                 *, upgrade: bool) -> None:
    import redis.asyncio as aioredis

    from desk.archiver import Archiver
    from desk.database import ensure_current, open_database, redacted
    from desk.database import upgrade as upgrade_schema
    from desk.retention import ArchiveRetention

    if upgrade:
        await upgrade_schema(database)
    else:
        await ensure_current(database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    client = aioredis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
    db = open_database(database)
    try:
        archiver = Archiver(client, db, consumer=consumer, batch=args.batch,
                            claim_idle_ms=args.claim_idle_seconds * 1000, registry=registry,
                            metrics_interval=args.metrics_interval,
                            retention=ArchiveRetention.from_env())
        async with archiver:
            print(f"parley archiver: storing parley:archive in {redacted(database)} "
                  f"(consumer {consumer})", flush=True)
            await stop.wait()
    finally:
        await db.aclose()
        await client.aclose()
    print("parley archiver: stopped", flush=True)
