"""A website's callback endpoint on 127.0.0.1: checks Parley's signature like a site would,
records the replies it accepted, and can be told to fail (status codes, slow answers)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

from aiohttp import web

from channels.web.adapter import verify_signature
from tests.fakes.threaded_server import wait_for_count


class CallbackSink:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.replies: list[dict[str, Any]] = []
        self.attempts = 0
        self.rejected_signatures = 0
        self.delivery_ids: set[str] = set()
        self.repeats = 0
        self.failures: deque[tuple[int, float]] = deque()  # (status, delay) for next calls
        self.retry_after: str | None = None  # Retry-After header sent with scripted errors
        self.arrivals: list[float] = []       # monotonic time of every attempt
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.attempts += 1
            self.arrivals.append(time.monotonic())
            status, delay = self.failures.popleft() if self.failures else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        try:
            verify_signature(self.secret, request.headers, body, window=300)
        except Exception:
            with self._lock:
                self.rejected_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if status >= 300:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return web.json_response({"error": "scripted"}, status=status, headers=headers)
        reply = json.loads(body)
        with self._lock:  # a site keeps the delivery ids it has seen: retries repeat
            if reply["delivery_id"] not in self.delivery_ids:
                self.delivery_ids.add(reply["delivery_id"])
                self.replies.append(reply)
            else:
                self.repeats += 1
        return web.json_response({"ok": True})

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        wait_for_count(lambda: self.replies, count, timeout)
        with self._lock:
            return list(self.replies)

    def __enter__(self) -> CallbackSink:
        self._thread.start()
        app = web.Application()
        app.router.add_post("/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)

        async def start() -> str:
            assert self._runner is not None
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            host, port = self._runner.addresses[0][:2]
            return f"http://{host}:{port}/callback"

        self.url = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
