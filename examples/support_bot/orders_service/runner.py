"""Runs the demo orders service in a background thread, for sync callers (the shell, tests)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import web

from .app import create_app

__all__ = ["DemoService", "start_demo_service"]


@dataclass
class DemoService:
    url: str
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def start_demo_service(host: str = "127.0.0.1", port: int = 0) -> DemoService:
    """Start the service on ``host:port`` (0: a free port) and return once it listens."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="demo-orders", daemon=True)
    thread.start()
    runner = web.AppRunner(create_app(), access_log=None)

    async def _start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        return f"http://{bound[0]}:{bound[1]}"

    url = asyncio.run_coroutine_threadsafe(_start(), loop).result(timeout=10)
    return DemoService(url, loop, runner, thread)
