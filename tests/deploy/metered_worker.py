"""``parley worker --metrics-port`` as an operator starts it, and a reader of its
``/metrics``: for the monitoring tests (tests/deploy, tests/integration)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import BOT, WorkerProcess, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class MeteredWorker(WorkerProcess):
    """``parley worker -c N --metrics-port P``: the supervisor, its Celery worker (one
    child) and that worker's prefork processes (``children()``)."""

    def __init__(self, model: Path, log: Path, *, concurrency: int = 2, bot: Path = BOT,
                 env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        super().__init__(model, log, concurrency, bot, env=env, argv=[
            sys.executable, "-m", "gateway.cli", "worker", "-c", str(concurrency),
            "--metrics-port", str(self.port), "--metrics-host", "127.0.0.1"])

    def children(self) -> list[int]:
        """The prefork pool's processes (grandchildren of the supervisor)."""
        return [pid for celery in _children(self.process.pid) for pid in _children(celery)]

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            return str(response.read().decode())

    def samples(self) -> Samples:
        return samples(self.scrape())


def samples(text: str) -> Samples:
    """Every sample of a scrape by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]
