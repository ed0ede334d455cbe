"""The bus ``parley run`` starts for itself when ``PARLEY_REDIS_URL`` is not set.

Trying Parley should not require installing and running Redis first. If a ``redis-server``
binary is on ``PATH`` it is started as a child process on a free loopback port, with no
persistence (the data lives as long as the run); otherwise fakeredis's TCP server (with Lua
through ``lupa``) runs in a thread of this process. Either way the gateway, the workers and
Celery reach it by URL like any other Redis, so nothing else in Parley knows the
difference. Neither is meant for production: set ``PARLEY_REDIS_URL`` there.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

__all__ = ["EmbeddedRedis", "start_embedded_redis"]

READY_TIMEOUT = 10.0  # seconds for redis-server to answer PING
_STOP_TIMEOUT = 5.0   # seconds between SIGTERM and SIGKILL
_PR_SET_PDEATHSIG = 1


@dataclass(eq=False)
class EmbeddedRedis:
    """A running embedded bus: its ``url``, its ``kind`` and how to ``stop`` it."""

    url: str
    kind: Literal["redis-server", "fakeredis"]
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
                         prefer: Literal["auto", "fakeredis"] = "auto") -> EmbeddedRedis:
    """Start a private Redis on 127.0.0.1: ``redis-server`` if installed, else fakeredis.

    ``prefer="fakeredis"`` skips the ``redis-server`` lookup (tests, or a machine whose
    ``redis-server`` misbehaves). ``log`` gets one line saying which bus was started.
    """
    binary = shutil.which("redis-server") if prefer == "auto" else None
    server = _start_redis_server(binary) if binary else _start_fakeredis()
    atexit.register(server.stop)  # a normal exit never leaves a server behind
    if server.kind == "redis-server":
        log(f"Started a private redis-server ({binary}) at {server.url}, without persistence: "
            "its data ends with this run. Set PARLEY_REDIS_URL to use your own Redis.")
    else:
        log(f"Started an embedded in-process Redis (fakeredis) at {server.url}: fit for one "
            "person trying Parley (Celery gets ~150 tasks/s from it, under half what "
            "redis-server gives), not for production. Install redis-server or set "
            "PARLEY_REDIS_URL for real use.")
    return server


# --- redis-server -------------------------------------------------------------------------


def _start_redis_server(binary: str) -> EmbeddedRedis:
    """Start ``binary`` on a free port; retry on another port if one was taken meanwhile."""
    for attempt in range(3):
        try:
            return _try_redis_server(binary, _free_port())
        except _PortTaken:
            if attempt == 2:
                raise RuntimeError("redis-server: no free port found in 3 attempts") from None
    raise AssertionError("unreachable")


class _PortTaken(Exception):
    """The port chosen was bound by someone else before redis-server could."""


def _try_redis_server(binary: str, port: int) -> EmbeddedRedis:
    workdir = Path(tempfile.mkdtemp(prefix="parley-redis-"))
    output = workdir / "redis-server.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
             "--protected-mode", "yes", "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir,
            # Own session: Ctrl-C reaches Parley, which still needs the bus while it shuts
            # down (the dispatcher acknowledges what it flushes), and not the server.
            preexec_fn=_die_with_parent(), start_new_session=True)

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
        _wait_for_ping(url, process, output)
    except BaseException:
        stop()
        raise
    # Nothing is written there from now on (no persistence; the log is an open file), so
    # remove it now: a ``parley run`` killed with SIGKILL then leaves no directory behind.
    shutil.rmtree(workdir, ignore_errors=True)
    return EmbeddedRedis(url=url, kind="redis-server", _stopper=stop)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], output: Path) -> None:
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
                raise RuntimeError(f"redis-server exited with code {code} before answering "
                                   f"PING on {url}; its output ended with:\n{tail}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING on {url} within "
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


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies, so a killed
    ``parley run`` leaves no redis-server behind (atexit covers normal exits only).

    The kernel signals when the *thread* that forked dies, so start the server from the
    main thread (``parley run`` does). Elsewhere, or without libc, there is no such hook.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no locks, no imports
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


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
        raise RuntimeError("the embedded Redis needs Lua: pip install 'fakeredis[lua]', or "
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
    """fakeredis's ``TcpFakeServer`` with the fixes below. Built on first use: a machine
    with redis-server never imports fakeredis (~90 ms) nor depends on its internals."""
    from fakeredis import FakeStrictRedis, TcpFakeServer
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler

    class ParleyHandler(TCPFakeRequestHandler):
        """Two fixes to fakeredis 2.40's TCP server, for this server's connections only.

        1. Its handler answers a command's error reply (``NOSCRIPT``, ``BUSYGROUP``,
           ``WRONGTYPE``…) and then closes the connection, which Redis never does;
           redis-py's ``Script`` (``EVALSHA``, ``NOSCRIPT``, then ``SCRIPT LOAD`` on the
           same connection) then fails with "Connection closed by server" (fakeredis-py
           issue #432). Handing the error back as a value lets the handler write it as the
           reply and carry on.
        2. ``XREADGROUP … COUNT n BLOCK ms STREAMS s >`` with nothing new answers at once
           instead of blocking (and without ``COUNT`` any write to any key ends the wait):
           an empty read is returned as a result rather than as "nothing yet". The
           outbound dispatcher reads exactly so; it would spin. Now it keeps waiting.
        """

        def setup(self) -> None:
            super().setup()
            connection = self.current_client
            read_response = connection.read_response

            def read_reply(**kwargs: Any) -> Any:
                try:
                    return read_response(**kwargs)
                except redis.ResponseError as error:  # a reply, not a broken connection
                    return error

            vars(connection)["read_response"] = read_reply  # this connection's only

            fake_socket = connection.get_socket()
            read_group = getattr(fake_socket, "_xreadgroup", None)
            if read_group is not None:
                def xreadgroup(*args: Any) -> Any:
                    result = read_group(*args)
                    # {} only when every stream was read at '>' and had nothing new; None
                    # is what the blocking loop and the reply shapers take for "nothing".
                    return None if result == {} else result

                vars(fake_socket)["_xreadgroup"] = xreadgroup

    class FakeServer(TcpFakeServer):
        """Connections ``stop()`` closes, and threads that never keep the process alive:
        a client blocked in ``BLPOP 0`` would otherwise hang both."""

        def __init__(self, address: tuple[str, int]) -> None:
            super().__init__(address, server_type="redis")
            self.RequestHandlerClass = ParleyHandler
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
