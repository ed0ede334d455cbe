"""A scriptable HTTP backend on 127.0.0.1 (aiohttp in a thread) for client tests.

Tell it what to answer next (``script``: a list of (status, headers, delay seconds)), and
read how many requests reached it (``hits``).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from aiohttp import web


class FakeBackend:
    def __init__(self) -> None:
        self.hits = 0
        self.script: deque[tuple[int, dict[str, str], float]] = deque()
        self.headers_seen: list[dict[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.headers_seen.append(dict(request.headers))
        status, headers, delay = self.script.popleft() if self.script else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        body: dict[str, Any] = {"ok": status < 400, "path": request.path}
        if status >= 400:
            body = {"error": f"scripted {status}"}
        return web.json_response(body, status=status, headers=headers)

    def __enter__(self) -> FakeBackend:
        self._thread.start()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)

        async def start() -> str:
            assert self._runner is not None
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            host, port = self._runner.addresses[0][:2]
            return f"http://{host}:{port}"

        self.url = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        # Let any request still sleeping in a handler finish before the loop goes away.
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
