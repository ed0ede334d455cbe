"""``parley worker``'s ``/metrics``: the sum of its Celery processes' metrics, and the bus.

``prepare_directory`` must run before anything imports ``prometheus_client`` in this
process or in the Celery processes it starts (the library picks its multiprocess mode at
import), so this module imports it only inside its functions. The directory is
``PROMETHEUS_MULTIPROC_DIR`` when set (its old files removed: counts start again with the
worker, which Prometheus reads as a counter reset), else a new temporary one.

Each scrape reads every process's files (``MultiProcessCollector``): counters of pool
children that exited or were killed stay in the sum, so a recycled child neither loses
nor doubles a count; live gauges of processes that are gone (a child killed with SIGKILL
never says so) are dropped before reading. It also reads three figures of the bus from
Redis, the same for every worker host (take the max across them, not the sum):
``parley_worker_queue_length`` (serve tasks waiting in ``parley.inbound``),
``parley_worker_queue_oldest_seconds`` (how long the next one has waited),
``parley_worker_dead_letter_stream_length`` (entries on ``parley:inbound:dead``), and
``parley_worker_bus_up`` (1 when Redis answered the scrape).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MetricsEndpoint", "MetricsEndpointError", "prepare_directory", "serve_metrics"]

_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")


class MetricsEndpointError(Exception):
    """The endpoint cannot start; the message names the setting to change."""


@dataclass(frozen=True, slots=True)
class MetricsEndpoint:
    """Where ``/metrics`` is served; ``port`` None: not served (the default)."""

    port: int | None
    host: str = "0.0.0.0"

    @classmethod
    def from_values(cls, port: str | int | None, host: str | None) -> MetricsEndpoint:
        """From ``--metrics-port``/``--metrics-host`` or ``PARLEY_WORKER_METRICS_PORT``/
        ``PARLEY_WORKER_METRICS_HOST``; empty or ``off``: not served."""
        raw = "" if port is None else str(port).strip()
        if raw.lower() in ("", "off"):
            return cls(None, host or "0.0.0.0")
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise MetricsEndpointError("the worker's metrics port (--metrics-port or "
                                       "PARLEY_WORKER_METRICS_PORT) must be a port number "
                                       f"from 1 to 65535 or 'off', got {raw!r}")
        return cls(int(raw), host or "0.0.0.0")


def prepare_directory() -> tuple[Path, bool]:
    """The multiprocess directory, empty, and in ``os.environ`` for the Celery processes:
    (its path, whether it was made here and should be removed at the end)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        try:
            path.mkdir(parents=True, exist_ok=True)
            for old in path.glob("*.db"):
                old.unlink()
        except OSError as exc:
            raise MetricsEndpointError(f"PROMETHEUS_MULTIPROC_DIR={given!r} cannot be used "
                                       f"for the worker's metrics: {exc}") from exc
        return path, False
    path = Path(tempfile.mkdtemp(prefix="parley-worker-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, True


@contextlib.contextmanager
def serve_metrics(endpoint: MetricsEndpoint, *, redis_url: str, directory: Path,
                  remove: bool) -> Iterator[None]:
    """Serve ``/metrics`` on a thread while the block runs; remove ``directory`` after if
    asked."""
    server = None
    try:
        if endpoint.port is not None:
            server = _start(endpoint, redis_url, directory)
        yield
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if remove:
            shutil.rmtree(directory, ignore_errors=True)


def _start(endpoint: MetricsEndpoint, redis_url: str, directory: Path) -> Any:
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessFiles(directory))
    registry.register(_BusFigures(redis_url))
    assert endpoint.port is not None
    try:
        server, _ = start_http_server(endpoint.port, addr=endpoint.host, registry=registry)
    except OSError as exc:
        raise MetricsEndpointError(
            f"the worker cannot serve its metrics on {endpoint.host}:{endpoint.port} ({exc}); "
            "choose another --metrics-port / PARLEY_WORKER_METRICS_PORT, or 'off'") from exc
    return server


class _ProcessFiles:
    """``MultiProcessCollector`` over ``directory``, minus the live gauges of processes
    that are gone."""

    def __init__(self, directory: Path) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self._directory = directory
        self._files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Any]:
        from prometheus_client.multiprocess import mark_process_dead

        for name in glob.glob(os.path.join(self._directory, "gauge_live*.db")):
            found = _LIVE_FILE.search(name)
            if found and not _alive(int(found.group(1))):
                mark_process_dead(int(found.group(1)),  # type: ignore[no-untyped-call]
                                  path=str(self._directory))
        families: Iterable[Any] = self._files.collect()  # type: ignore[no-untyped-call]
        return families


class _BusFigures:
    """What the bus says when scraped: the inbound queue and the dead letters."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2,
                                           socket_timeout=2)

    def collect(self) -> Iterable[Any]:
        import redis
        from prometheus_client.core import GaugeMetricFamily

        from workers.bus import INBOUND_DEAD_STREAM, INBOUND_QUEUE, queued_since

        up = GaugeMetricFamily("parley_worker_bus_up", "1 when Redis answered this scrape")
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(INBOUND_QUEUE)
            pipe.lindex(INBOUND_QUEUE, -1)
            pipe.xlen(INBOUND_DEAD_STREAM)
            length, oldest, dead = pipe.execute()
        except (redis.RedisError, OSError):
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        since = queued_since(oldest)
        return [
            up,
            GaugeMetricFamily("parley_worker_queue_length",
                              "Serve tasks waiting in the inbound queue", value=int(length)),
            GaugeMetricFamily("parley_worker_queue_oldest_seconds",
                              "How long the next serve task in the queue has waited",
                              value=max(0.0, time.time() - since) if since else 0.0),
            GaugeMetricFamily("parley_worker_dead_letter_stream_length",
                              "Entries on parley:inbound:dead", value=int(dead)),
        ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
