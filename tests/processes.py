"""Real parts for integration and end-to-end tests: a Redis database of our own, a trained
model, a real ``celery worker`` process (prefork) and the real gateway process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import redis

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from tests.conftest import FIXTURES, REPO, TEST_ENCRYPTION_KEY


def _database() -> int:
    """Database 14 unless TEST_REDIS_DB names another (to run two suites side by side);
    each pytest-xdist process takes the next lower one (gw0: 14, gw1: 13, ...)."""
    base = int(os.environ.get("TEST_REDIS_DB", "14"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return base - int(worker.removeprefix("gw") or 0)


REDIS_URL = f"redis://127.0.0.1:6379/{_database()}"
BOT = FIXTURES / "bots" / "dialogue_bot"


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=30)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("integration tests need Redis on 127.0.0.1:6379 (.ci/run starts one)")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def bot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train_model(load_training_data(BOT), load_nlu_config(BOT), seed=1)
    return save_model(model, tmp_path_factory.mktemp("model") / "model.tar.gz")


class WorkerProcess:
    """``celery worker`` as a user starts it; ``children()`` are its prefork processes.
    ``bot``: the bot folder it serves (the fixture dialogue bot unless told another, e.g.
    a copy with a ``desk.yml`` of its own)."""

    def __init__(self, model: Path, log: Path, concurrency: int = 2, bot: Path = BOT, *,
                 argv: list[str] | None = None, env: Mapping[str, str] | None = None,
                 log_level: str = "INFO") -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        full.update(PARLEY_REDIS_URL=REDIS_URL, PARLEY_BOT_DIR=str(bot),
                    PARLEY_MODEL=str(model), PARLEY_LEASE_SECONDS="3",
                    PARLEY_VISIBILITY_TIMEOUT="10", **(env or {}))
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            argv or [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
                     "-Q", "parley.inbound", "-c", str(concurrency), "-P", "prefork",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", "-l",
                     log_level],
            cwd=REPO, env=full, stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log.read_text()[-2000:]}")

    def children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
                             capture_output=True, text=True, check=False).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        _terminate(self.process)
        self._log_file.close()


def encryption_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this test process's key as ``PARLEY_ENCRYPTION_KEYS``, unless it says
    how to encrypt itself: what the server stores, the test can read."""
    if any(name.startswith("PARLEY_ENCRYPTION") for name in env):
        return dict(env)
    return {**env, "PARLEY_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY}


class GatewayProcess:
    """``parley gateway`` on a free port, as an operator starts it."""

    def __init__(self, log: Path, env: dict[str, str], port: int | None = None, *,
                 verbose: bool = False) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        full.update(encryption_env(env), PARLEY_REDIS_URL=REDIS_URL, PARLEY_PORT=str(self.port))
        self.log = log
        self._log_file = log.open("a")
        self.process = subprocess.Popen([sys.executable, "-m", "gateway.cli",
                                         *(["-v"] if verbose else []), "gateway"],
                                        cwd=REPO, env=full, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gateway exited: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        raise RuntimeError("gateway did not listen")

    def stop(self) -> None:
        _terminate(self.process)
        self._log_file.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed, as when a machine dies."""
        self.process.kill()
        self.process.wait()
        self._log_file.close()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful stop), SIGKILL if that takes over 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clean_redis(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Our Redis database, empty before and after the test."""
    redis_client.flushdb()
    yield redis_client
    redis_client.flushdb()


@pytest.fixture
def worker(bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(bot_model, tmp_path / "worker.log")
    yield process
    process.stop()


def run_parley(*args: str, env: dict[str, str] | None = None,
               timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``parley ARGS`` in a session of its own (no ``PARLEY_*`` of ours leaks in), killed
    whole on a timeout: a ``run`` that fails to stop would otherwise leave its bus and
    worker behind."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], cwd=REPO,
                               env={**clean, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# What running a bot leaves in its folder: models, reports, the desk's SQLite file and the
# key made for it. A copy for a test leaves them behind: a test starts from the bot's files.
RUNTIME_STATE = shutil.ignore_patterns("models", "reports", "__pycache__", "parley.db*",
                                       ".parley")


def copy_bot(bot: Path, tmp_path: Path) -> Path:
    """A copy of a bot folder without what running it left there (so a command trains)."""
    copy = tmp_path / bot.name
    shutil.copytree(bot, copy, ignore=RUNTIME_STATE)
    return copy
