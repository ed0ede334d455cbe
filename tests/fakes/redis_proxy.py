"""A TCP proxy in front of the test Redis that can slow it down or take it away.

``RedisProxy(delay=0.2)`` holds every answer chunk for ``delay`` seconds (a slow Redis);
``cut()`` drops every connection and refuses new ones until ``restore()`` (a Redis that
went away and came back, as a restart looks to its clients). It runs in its own thread
and event loop, so the code under test keeps its own loop.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["RedisProxy"]


class RedisProxy:
    def __init__(self, *, upstream: tuple[str, int] = ("127.0.0.1", 6379),
                 delay: float = 0.0) -> None:
        self._upstream = upstream
        self._delay = delay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._down = False
        self.port = 0

    def url(self, database: int | str) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    delay: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer, 0.0),
                             self._pipe(upstream_reader, writer, self._delay))

    def cut(self) -> None:
        """Drop every connection now; refuse new ones until ``restore``."""
        def drop() -> None:
            self._down = True
            for writer in self._writers:
                writer.transport.abort()
            self._writers.clear()
        self._loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_down", False)

    def __enter__(self) -> RedisProxy:
        self._thread.start()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._client, "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await asyncio.gather(*(w.wait_closed() for w in self._writers),
                                 return_exceptions=True)
            await self._server.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
