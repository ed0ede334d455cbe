"""The archiver: turn records from ``parley:archive`` into the database, exactly once.

Members of the consumer group ``parley-archiver`` (one per gateway replica, or ``parley
archiver``) read batches of records — first their own pending ones (left by a crash or a
database that was down), then the idle entries of members that died (``XAUTOCLAIM``
after ``claim_idle_ms``, again every half of it), then new ones — and store each batch with
``desk.archive_store.store_turns`` in one transaction. A batch is acknowledged only after
the commit: a crash between the two stores it again, which the store's
``(conversation, sequence)`` key turns into nothing. After a batch that was not full it
waits ``gather_seconds`` (0.25 s) for the next one to fill: a transaction costs about as much
CPU for 5 records as for 500.

Errors (``_classify``):

* the database is unavailable (down, restarting, a deadlock or serialization failure to
  retry): nothing is acknowledged; the loop backs off (0.5 s doubling to 30 s) and reads
  its pending entries again — the stream holds the backlog meanwhile;
* a record the database refuses as data, or one that is not a turn record: logged,
  counted and acknowledged alone — the batch is split in halves until the bad record is
  found, so it never holds up the rest;
* anything else (a bug, a schema behind the code): nothing is acknowledged, logged with
  its traceback, retried after the same back-off.

Gauges (``parley_archive_*``) are read from Redis every ``metrics_interval`` seconds: the
group's lag plus its pending entries (the backlog), the age of the oldest entry not yet
stored (from its id's time), and the stream's length.

With a ``retention`` (``PARLEY_ARCHIVE_RETENTION_DAYS``, not ``off``) the archiver also
purges the conversations older than it, hourly, one replica at a time (``desk.purge_job``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
)

from desk.archive_store import parse_record, store_turns
from desk.background import BackgroundLoop
from desk.database import UNAVAILABLE, Database
from desk.errors import DeskError
from desk.events import ensure_group
from desk.purge_job import ArchivePurgeJob
from desk.retention import ArchiveRetention
from workers.bus import ARCHIVE_STREAM

__all__ = ["GROUP", "ArchiveMetrics", "Archiver"]

GROUP = "parley-archiver"
_log = logging.getLogger("parley.desk.archiver")
# The database is down or restarting (not: this record is bad); a socket or a desk error
# on the way to it too.
_UNAVAILABLE = (*UNAVAILABLE, OSError, TimeoutError, DeskError)
# PostgreSQL's SQLSTATE classes of a database to retry: connection, transaction rollback
# (deadlock, serialization), resources, operator intervention (a restart), system error,
# and a database that refuses this login or does not exist (yet).
_RETRY_CLASSES = ("08", "28", "3D", "40", "53", "57", "58")
_DATA_CLASSES = ("22", "23")  # data exception, integrity constraint violation
_REASONS = ("unavailable", "refused", "malformed", "trimmed", "error")


class ArchiveMetrics:
    """The archive's metrics (README "Metrics"), on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge("parley_archive_backlog", "Turn records in parley:archive not "
                             "yet stored (the archiver group's lag + pending)",
                             registry=registry)
        self.oldest_seconds = Gauge("parley_archive_oldest_seconds", "Age of the oldest turn "
                                    "record not yet stored", registry=registry)
        self.stream_length = Gauge("parley_archive_stream_length", "Entries in parley:archive",
                                   registry=registry)
        self.stored = Counter("parley_archive_turns_stored", "Turns the archiver stored "
                              "(new rows; a record stored again is not counted)",
                              registry=registry)
        self.failures = Counter("parley_archive_store_failures", "Batches or records the "
                                "archiver could not store, by reason (unavailable: kept and "
                                "retried; refused, malformed, trimmed: skipped; error: kept)",
                                ["reason"], registry=registry)
        for reason in _REASONS:  # every series from the start, for rate() in alerts
            self.failures.labels(reason)


class Archiver:
    def __init__(self, client: aioredis.Redis, db: Database, *, consumer: str,
                 batch: int = 500, claim_idle_ms: int = 60_000,
                 registry: CollectorRegistry | None = None,
                 metrics_interval: float = 5.0, gather_seconds: float = 0.25,
                 retention: ArchiveRetention | None = None,
                 purge_first_delay: float = 30.0) -> None:
        self._redis = client
        # After a batch smaller than ``batch``, wait this long before reading again: a
        # transaction per few records would cost many times the CPU per turn of a full one.
        self._gather_seconds = gather_seconds
        self._db = db
        self._consumer = consumer
        self._batch = batch
        self._claim_idle_ms = claim_idle_ms
        registry = registry or CollectorRegistry()
        self.metrics = ArchiveMetrics(registry)
        self.purge = ArchivePurgeJob(client, db, retention=retention, registry=registry,
                                     first_delay=purge_first_delay) \
            if retention is not None and retention.days is not None else None
        self._metrics_interval = metrics_interval
        self._loop = BackgroundLoop("archiver")
        self._gauges = BackgroundLoop("archiver-gauges")

    async def start(self) -> None:
        self._loop.start(self._run)
        self._gauges.start(self._watch)
        if self.purge is not None:
            await self.purge.start()

    async def aclose(self) -> None:
        if self.purge is not None:
            await self.purge.aclose()
        await self._gauges.stop()
        await self._loop.stop()

    async def __aenter__(self) -> Archiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self) -> None:
        delay = 0.5
        while not self._loop.stopping.is_set():
            try:
                await ensure_group(self._redis, GROUP, start="0", stream=ARCHIVE_STREAM)
                await self._drain_pending()
                await self._drain_claimable()
                claimed_at = time.monotonic()
                while not self._loop.stopping.is_set():
                    if (time.monotonic() - claimed_at) * 1000 >= self._claim_idle_ms / 2:
                        await self._drain_claimable()
                        claimed_at = time.monotonic()
                    found = cast(list[Any], await self._redis.xreadgroup(
                        GROUP, self._consumer, {ARCHIVE_STREAM: ">"}, count=self._batch,
                        block=1000))
                    read = 0
                    for _, items in found or ():
                        await self._archive(items)
                        read += len(items)
                    delay = 0.5
                    if read and read < self._batch and self._gather_seconds > 0:
                        try:  # let the next batch fill up
                            await asyncio.wait_for(self._loop.stopping.wait(),
                                                   self._gather_seconds)
                        except TimeoutError:
                            pass
            except Exception as exc:
                if isinstance(exc, RedisError) or _classify(exc) == "unavailable":
                    _log.warning("archiver: %s (%s); retrying in %.1f s", type(exc).__name__,
                                 _first_line(exc), delay)
                else:  # a bug, or a schema behind the code: kept, logged, retried
                    self.metrics.failures.labels("error").inc()
                    _log.exception("archiver stopped on an error; retrying in %.1f s", delay)
            try:
                await asyncio.wait_for(self._loop.stopping.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 30.0)

    async def _drain_pending(self) -> None:
        """Store what this consumer read before and did not acknowledge."""
        while not self._loop.stopping.is_set():
            found = cast(list[Any], await self._redis.xreadgroup(
                GROUP, self._consumer, {ARCHIVE_STREAM: "0"}, count=self._batch))
            items = [item for _, entries in found or () for item in entries]
            if not items:
                return
            await self._archive(items)

    async def _drain_claimable(self) -> None:
        """Take over and store the entries other members left idle (they died)."""
        cursor: bytes | str = "0-0"
        while not self._loop.stopping.is_set():
            reply = await self._redis.xautoclaim(
                ARCHIVE_STREAM, GROUP, self._consumer, min_idle_time=self._claim_idle_ms,
                start_id=cursor, count=self._batch)
            cursor, items = reply[0], list(reply[1])
            if items:
                await self._archive(items)
            if cursor in (b"0-0", "0-0"):
                return

    async def _archive(self, items: Sequence[tuple[Any, Any]]) -> None:
        """Store one batch of stream entries, then acknowledge all of them."""
        records: list[tuple[Any, dict[str, Any]]] = []
        for entry_id, fields in items:
            if not fields:  # pending, but trimmed from the stream (PARLEY_ARCHIVE_STREAM_MAX)
                _log.warning("archiver: entry %s was trimmed from the stream before it was "
                             "stored", _text(entry_id))
                self.metrics.failures.labels("trimmed").inc()
                continue
            raw = fields.get(b"record")
            record = parse_record(raw) if raw is not None else None
            if record is None:  # not a turn record (parse_record said why)
                self.metrics.failures.labels("malformed").inc()
            else:
                records.append((entry_id, record))
        stored = await self._store(records)
        if items:
            await self._redis.xack(ARCHIVE_STREAM, GROUP, *(entry_id for entry_id, _ in items))
        self.metrics.stored.inc(stored)

    async def _store(self, records: Sequence[tuple[Any, Mapping[str, Any]]]) -> int:
        """Store ``records``; one the database refuses is logged and left out, found by
        splitting the batch in halves."""
        if not records:
            return 0
        try:
            return await store_turns(self._db, [record for _, record in records])
        except Exception as exc:
            if _classify(exc) != "refused":
                if _classify(exc) == "unavailable":
                    self.metrics.failures.labels("unavailable").inc()
                raise
            if len(records) == 1:
                entry_id, record = records[0]
                self.metrics.failures.labels("refused").inc()
                _log.error("archiver: the database refused turn %s of a conversation (entry "
                           "%s): %s; skipped", record.get("sequence"), _text(entry_id),
                           _first_line(exc))
                return 0
            half = len(records) // 2
            return await self._store(records[:half]) + await self._store(records[half:])

    async def _watch(self) -> None:
        while not self._gauges.stopping.is_set():
            try:
                await self.update_gauges()
            except (RedisError, OSError) as exc:
                _log.debug("archiver gauges: %s", type(exc).__name__)
            try:
                await asyncio.wait_for(self._gauges.stopping.wait(), self._metrics_interval)
            except TimeoutError:
                pass

    async def update_gauges(self) -> None:
        """Read the backlog, the oldest unstored entry's age and the stream's length."""
        backlog, oldest_ms, length = await archive_backlog(self._redis)
        self.metrics.backlog.set(backlog)
        self.metrics.stream_length.set(length)
        self.metrics.oldest_seconds.set(
            max(0.0, time.time() - oldest_ms / 1000) if oldest_ms is not None else 0.0)


async def archive_backlog(client: aioredis.Redis) -> tuple[int, int | None, int]:
    """(records not yet stored, the time in ms of the oldest of them or None, the stream's
    length) as Redis 7's ``XINFO GROUPS`` (lag, pending) and the entries' ids say."""
    length = int(await client.xlen(ARCHIVE_STREAM))
    try:
        groups = await client.xinfo_groups(ARCHIVE_STREAM)
    except ResponseError:  # no stream yet
        return 0, None, length
    group = next((g for g in groups if _text(g.get("name")) == GROUP), None)
    if group is None:
        return length, await _first_time(client, "-"), length
    pending = int(group.get("pending") or 0)
    last = _text(group.get("last-delivered-id") or "0-0")
    lag = group.get("lag")
    if lag is None:  # Redis cannot tell (entries deleted): count what follows, bounded
        following = await client.xrange(ARCHIVE_STREAM, min=f"({last}", max="+",
                                        count=100_000)
        lag = len(following or ())
    times = [t for t in (await _first_time(client, f"({last}") if int(lag) else None,
                         await _oldest_pending(client) if pending else None) if t is not None]
    return int(lag) + pending, min(times) if times else None, length


async def _first_time(client: aioredis.Redis, start: str) -> int | None:
    first = await client.xrange(ARCHIVE_STREAM, min=start, max="+", count=1)
    return _id_time(first[0][0]) if first and first[0][0] is not None else None


async def _oldest_pending(client: aioredis.Redis) -> int | None:
    summary = await client.xpending(ARCHIVE_STREAM, GROUP)
    return _id_time(summary["min"]) if summary.get("min") else None


def _classify(exc: BaseException) -> str:
    """``unavailable`` (retry the batch later), ``refused`` (this data: skip the record)
    or ``error`` (neither: keep it, it is not the record's fault)."""
    chain = _chain(exc)
    sqlstate = next((str(getattr(e, "sqlstate", "")) for e in chain
                     if getattr(e, "sqlstate", None)), "")
    if (isinstance(exc, DBAPIError) and exc.connection_invalidated) \
            or sqlstate[:2] in _RETRY_CLASSES:
        return "unavailable"
    if isinstance(exc, DataError | IntegrityError) or sqlstate[:2] in _DATA_CLASSES:
        return "refused"
    # A value the driver cannot send (asyncpg's client-side DataError, a UnicodeError, a
    # naive datetime): a ValueError somewhere in the chain.
    if any(isinstance(e, ValueError) for e in chain):
        return "refused"
    if any(isinstance(e, _UNAVAILABLE) for e in chain):
        return "unavailable"
    return "error"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver's error SQLAlchemy wraps, and their causes."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) and orig is not current \
            else current.__cause__
    return chain


def _id_time(entry_id: bytes | str) -> int:
    return int(_text(entry_id).split("-", 1)[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).splitlines() or [type(orig).__name__])[0][:200]
