"""An aiohttp application served on 127.0.0.1 from a thread of its own: the base of the
fake platform servers, so a test (synchronous) can run them beside real processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Sized
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class ThreadedServer:
    """``with ThreadedServer(app) as server: server.url`` → ``http://127.0.0.1:<port>``."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app, access_log=None)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coroutine`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()

        async def start() -> str:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            host, port = self._runner.addresses[0][:2]
            return f"http://{host}:{port}"

        self.url = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def wait_for_count(read: Callable[[], Sized], count: int, timeout: float) -> None:
    """Return once ``read()`` holds ``count`` items (or at ``timeout``), and half a second
    more: anything sent twice would arrive by then, for the caller to see."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(read()) < count:
        time.sleep(0.05)
    time.sleep(0.5)
