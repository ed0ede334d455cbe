"""The gateway's archiver, on a thread and event loop of its own.

Storing a batch of turn records is CPU work (building rows, SQLAlchemy, the driver): on the
gateway's event loop each batch would hold up every webhook, socket and delivery for its
whole length (p95 reply latency at 200 msg/s went from 13 ms to 1.1 s in
``bench/e2e_load.py``). On its own thread the interpreter switches between the two every
few milliseconds instead. The thread has its own Redis client and database engine (both
belong to the event loop that made them); the metrics go to the gateway's registry.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from desk.archiver import Archiver
from desk.database import open_database
from desk.retention import ArchiveRetention

__all__ = ["ArchiverThread"]

_log = logging.getLogger("parley.desk.archiver")


class ArchiverThread:
    def __init__(self, redis_url: str, database_url: str, *, consumer: str,
                 registry: CollectorRegistry, retention: ArchiveRetention | None = None
                 ) -> None:
        self._redis_url = redis_url
        self._retention = retention  # the archive's purge (desk.purge_job), on this thread
        self._database_url = database_url
        self._consumer = consumer
        self._registry = registry
        self._thread = threading.Thread(target=self._main, name="parley-archiver",
                                        daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    async def start(self) -> None:
        self._thread.start()
        await asyncio.to_thread(self._started.wait, 10)

    async def aclose(self) -> None:
        """Stop the archiver (what it has not acknowledged stays pending for the next)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 15)
        if self._thread.is_alive():
            _log.warning("archiver thread did not stop within 15 s")

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:  # the archiver logs its own errors; this is what escaped it
            _log.exception("archiver thread ended on an error")
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = aioredis.Redis.from_url(self._redis_url, socket_timeout=10,
                                         socket_connect_timeout=5)
        db = open_database(self._database_url)
        try:
            async with Archiver(client, db, consumer=self._consumer, registry=self._registry,
                                retention=self._retention):
                self._started.set()
                await self._stop.wait()
        finally:
            await db.aclose()
            await client.aclose()
