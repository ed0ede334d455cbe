"""The stack bench/handoff_latency.py measures: the desk's database (SQLite, or a
database of its own on a PostgreSQL server) with one support agent, the workers and a
gateway of the example bot."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from bench_stack import free_port, wait_for_port

from desk.accounts import Accounts
from desk.database import database_url, open_database, upgrade
from desk.encryption import new_key
from workers.bus import DESK_TEAMS_KEY

__all__ = ["BOT", "REPO", "desk_database", "postgres_database", "start_stack"]

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "examples" / "support_bot"


def desk_database(folder: Path, plain: str | None = None) -> tuple[str, str]:
    """A fresh database of record (``plain``, else a SQLite file in ``folder``) at the
    newest schema with one support agent: (its ``PARLEY_DATABASE_URL``, the agent's API
    token)."""
    plain = plain or f"sqlite:///{folder / 'desk.db'}"

    async def create() -> str:
        await upgrade(database_url(plain, folder))
        db = open_database(database_url(plain, folder))
        try:
            new = await Accounts(db).add_user("ada@example.com", "agent", ("support",),
                                              token=True)
        finally:
            await db.aclose()
        assert new.token is not None
        return new.token

    return plain, asyncio.run(create())


@contextlib.contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL ``server`` (its URL), dropped after."""
    import asyncpg

    name = "parley_bench_" + secrets.token_hex(4)
    admin = server.rstrip("/") + "/postgres"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rstrip("/") + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_stack(args: argparse.Namespace, model: Path, desk_url: str, logs: Path,
                 processes: list[subprocess.Popen[bytes]]) -> str:
    """Workers and a gateway, each put in ``processes`` as it starts (to be stopped even if
    a later one fails); the gateway's URL once the workers are up and it listens."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_REDIS_URL=args.redis_url, PARLEY_PORT=str(port),
               PARLEY_BOT_DIR=str(BOT), PARLEY_MODEL=str(model),
               PARLEY_DATABASE_URL=desk_url, PARLEY_SESSION_SECRET="bench-session-secret-0123",
               PARLEY_ENCRYPTION_KEYS=new_key(),  # encryption at rest, as in production
               # Every user comes from 127.0.0.1: its new-conversation and socket rates are
               # one client's, which the defaults (30 and 120 a minute) would refuse.
               PARLEY_RATE_LIMIT_SESSIONS="off", PARLEY_RATE_LIMIT_SOCKETS="off")
    parley = [sys.executable, "-m", "gateway.cli"]
    worker = subprocess.Popen([*parley, "worker", "-c", str(args.workers), "--loglevel",
                               "WARNING"], env=env, cwd=REPO,
                              stdout=(logs / "worker.log").open("w"), stderr=subprocess.STDOUT)
    processes.append(worker)
    gateway = subprocess.Popen([*parley, "gateway"], env=env, cwd=REPO,
                               stdout=(logs / "gateway.log").open("w"),
                               stderr=subprocess.STDOUT)
    processes.append(gateway)
    client = redis.Redis.from_url(args.redis_url)
    deadline = time.monotonic() + 90
    while not (client.exists("parley:workers:heartbeat") and client.exists(DESK_TEAMS_KEY)):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError(f"the workers did not start:\n"
                               f"{(logs / 'worker.log').read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        wait_for_port(port, max(1.0, deadline - time.monotonic()))
    except RuntimeError:
        raise RuntimeError(f"the gateway did not listen:\n"
                           f"{(logs / 'gateway.log').read_text()[-3000:]}") from None
    client.close()
    return f"http://127.0.0.1:{port}"
