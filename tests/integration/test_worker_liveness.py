"""A real worker keeps its health file fresh once it has loaded the bot, and it goes stale
when the worker is gone: what the pod's startup and liveness probes read."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.conftest import REPO
from tests.processes import WorkerProcess


def _probe(health: Path, max_age: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workers.liveness", str(health), "--max-age",
                           str(max_age)], cwd=REPO, capture_output=True, text=True, timeout=30,
                          check=False)


def test_the_health_file_is_fresh_while_the_worker_lives_and_stale_after(
        bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> None:
    health = tmp_path / "worker.alive"
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", concurrency=1,
                           env={"PARLEY_WORKER_HEALTH_PATH": str(health)})
    try:
        deadline = time.monotonic() + 120
        while _probe(health, 10).returncode != 0:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.5)
        first = health.stat().st_mtime
        time.sleep(6)  # one heartbeat later
        assert health.stat().st_mtime > first
    finally:
        worker.stop()
    time.sleep(4)
    stale = _probe(health, 3)
    assert stale.returncode == 1 and "no worker process is alive" in stale.stderr
