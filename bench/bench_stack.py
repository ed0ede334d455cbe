"""What the benchmarks share: a private redis-server, a callback sink, ports.

Imported by the scripts beside it (``python bench/<script>.py`` puts this folder first on
``sys.path``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis
from aiohttp import web

__all__ = ["CallbackSink", "RedisServer", "archive_backlog", "cpu_seconds", "free_port",
           "stop_processes", "wait_for_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_processes(processes: list[subprocess.Popen[bytes]], *, name: Any = None) -> None:
    """SIGTERM them all, then wait; one that does not stop in 60 s is killed (and said so,
    under ``name(process)`` if given)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            shown = name(process) if name is not None else repr(process.args)
            print(f"{shown} did not stop in 60 s: killed", file=sys.stderr)
            process.kill()
            process.wait()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` and all their descendants alive now (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    wanted, frontier = set(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in wanted:
                wanted.add(pid)
                frontier.append(pid)
    ticks = 0
    for pid in wanted:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def archive_backlog(client: redis.Redis) -> int | None:
    """Turn records on ``parley:archive`` the archiver group has not stored (its lag +
    pending, as ``parley_archive_backlog``), or None while the group does not exist (or
    Redis cannot tell its lag)."""
    from workers.bus import ARCHIVE_STREAM

    try:
        groups = client.xinfo_groups(ARCHIVE_STREAM)
    except redis.ResponseError:  # no stream yet
        return None
    for group in groups:
        if group["name"] in (b"parley-archiver", "parley-archiver"):
            if group.get("lag") is None:
                return None
            return int(group["lag"]) + int(group.get("pending") or 0)
    return None


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


class RedisServer:
    """A redis-server of the benchmark's own on a free port, restartable. ``appendfsync``
    ``always`` or ``everysec``: its data in an append-only file in ``workdir`` (kept across
    restarts, as a production Redis keeps it); ``None``: no persistence at all."""

    def __init__(self, workdir: Path, appendfsync: str | None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("this benchmark needs redis-server on PATH")
        self.binary, self.workdir, self.appendfsync = binary, workdir, appendfsync
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", self.appendfsync]
                       if self.appendfsync else ["--appendonly", "no"])
        log = (self.workdir / "redis.log").open("a")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, 20)
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        deadline = time.monotonic() + 30
        while True:  # loading the append-only file answers LOADING meanwhile
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


class CallbackSink:
    """The website's callback endpoint: every delivery with its arrival time (monotonic),
    in arrival order; each answered after ``delay`` seconds (a slow site)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.deliveries: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        reply = await request.json()
        with self.lock:
            self.deliveries.append((time.monotonic(), reply))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"ok": True})

    def start(self) -> None:
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

        async def serve() -> str:
            app = web.Application()
            app.router.add_post("/callback", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return f"http://127.0.0.1:{runner.addresses[0][1]}/callback"

        self.url = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return list(self.deliveries)

    def answered(self) -> set[str]:
        """The inbound message ids with at least one reply."""
        return {reply["in_reply_to"] for _, reply in self.snapshot()}
