"""A real Rasa action server (``python -m rasa_sdk``, from the ``rasa-sdk`` package) serving
the fixture bot's ``actions`` package on a free port of 127.0.0.1, for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.brain.rasa_bot import RASA_BOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RasaActionServer:
    """Started in the bot folder (``--actions actions`` imports its package, as a Rasa
    project's server does); ``started_in``: seconds until ``/health`` answered."""

    def __init__(self, log: Path, *, bot_dir: Path = RASA_BOT, slow_seconds: float = 2.0
                 ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(SANIC_HOST="127.0.0.1", PYTHONDONTWRITEBYTECODE="1",
                   RASA_BOT_SLOW_SECONDS=str(slow_seconds))
        begun = time.monotonic()
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port",
                 str(self.port)], cwd=bot_dir, env=env, stdout=output,
                stderr=subprocess.STDOUT)
        self._wait_healthy()
        self.started_in = time.monotonic() - begun

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the action server exited: {self.log.read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the action server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def remote_copy(tmp_path: Path, url: str, *, timeout: float = 0.5) -> Path:
    """The fixture bot without its actions (so every custom action is remote) and with an
    ``endpoints.yml`` naming ``url``."""
    bot_dir = tmp_path / "remote_bot"
    shutil.copytree(RASA_BOT, bot_dir, ignore=shutil.ignore_patterns("actions", "__pycache__"))
    (bot_dir / "endpoints.yml").write_text(
        f'action_endpoint:\n  url: "{url}"\n  timeout: {timeout}\n')
    return bot_dir
