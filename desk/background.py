"""One background loop of the desk, owned: started once, stopped with a flag and a cancel.

The flag matters: redis-py can swallow a cancellation in the middle of a command, so each
loop also checks ``stopping`` between commands and ends by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BackgroundLoop"]


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self._name = name
        self.stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = asyncio.create_task(loop(), name=self._name)

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
