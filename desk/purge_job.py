"""The archive's periodic purge (``desk.retention``), run by the archiver.

Every ``ArchiveRetention.interval_seconds`` (an hour) each archiver tries to take the lock
``parley:archive:purge:lock`` (``SET NX PX`` one interval, never released): the one that
takes it purges, the others skip the round, and the key's expiry opens the next one. So the
fleet purges about once an interval, whatever number of gateways and archivers run, and a
replica that dies mid-purge leaves nothing behind (each batch is its own transaction; the
next round deletes the rest). The first round comes ``first_delay`` seconds after start,
not during it.

Each round logs its counts at INFO (``parley.desk.retention``), adds an ``archive.purged``
entry to the audit log when it deleted anything, and exports
``parley_archive_purged_rows_total{table}``, ``parley_archive_purge_runs_total{outcome}``
(``done``, ``failed``) and ``parley_archive_purge_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge

from desk import audit
from desk.background import BackgroundLoop
from desk.database import Database
from desk.retention import TABLES, ArchiveRetention, purge_archive

__all__ = ["LOCK_KEY", "ArchivePurgeJob", "PurgeMetrics", "log_purge"]

LOCK_KEY = "parley:archive:purge:lock"
_log = logging.getLogger("parley.desk.retention")


class PurgeMetrics:
    """The purge's metrics (README "Retention"), on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter("parley_archive_purged_rows", "Rows the archive purge deleted "
                            "(PARLEY_ARCHIVE_RETENTION_DAYS), by table", ["table"],
                            registry=registry)
        self.runs = Counter("parley_archive_purge_runs", "Archive purge rounds this process "
                            "ran, by outcome (done, failed)", ["outcome"], registry=registry)
        self.last_success = Gauge("parley_archive_purge_last_success_timestamp_seconds",
                                  "When this process's last archive purge round ended well "
                                  "(0: none yet)", registry=registry)
        for table in TABLES:  # every series from the start, for rate() in alerts
            self.rows.labels(table)
        for outcome in ("done", "failed"):
            self.runs.labels(outcome)


def log_purge(counts: Mapping[str, int], cutoff: datetime, *, dry_run: bool = False) -> None:
    """One INFO line: what the purge deleted (or would delete), per table."""
    listed = ", ".join(f"{table} {counts.get(table, 0)}" for table in TABLES)
    _log.info("archive purge%s: rows of conversations quiet since before %s: %s",
              " (dry run)" if dry_run else "", cutoff.isoformat(timespec="seconds"), listed)


class ArchivePurgeJob:
    def __init__(self, client: aioredis.Redis, db: Database, *, retention: ArchiveRetention,
                 registry: CollectorRegistry, first_delay: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._db = db
        self._retention = retention
        self.metrics = PurgeMetrics(registry)
        self._first_delay = first_delay
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._loop = BackgroundLoop("archive-purge")

    async def start(self) -> None:
        self._loop.start(self._run)

    async def aclose(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        delay = self._first_delay
        while not await self._stopped_within(delay):
            try:
                await self.run_once()
            except Exception as exc:  # the database or Redis away, or a bug: next round
                self.metrics.runs.labels("failed").inc()
                _log.warning("archive purge failed (%s: %s); next round in %.0f s",
                             type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc)
                             else "", self._retention.interval_seconds)
            delay = self._retention.interval_seconds

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._loop.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def run_once(self) -> dict[str, int] | None:
        """Purge now if this replica takes the round's lock; the counts, or ``None`` (the
        retention is off, or another replica has the round)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        cutoff = self._retention.cutoff(now)
        if cutoff is None:
            return None
        round_ms = max(1, int(self._retention.interval_seconds * 1000))
        if not await self._redis.set(LOCK_KEY, self._owner, nx=True, px=round_ms):
            return None
        counts = await purge_archive(self._db, cutoff=cutoff, batch=self._retention.batch)
        for table, n in counts.items():
            self.metrics.rows.labels(table).inc(n)
        self.metrics.runs.labels("done").inc()
        self.metrics.last_success.set(self._clock())
        log_purge(counts, cutoff)
        if any(counts.values()):
            await audit.record(self._db, actor=None, action="archive.purged", detail={
                "cutoff": cutoff.isoformat(), "rows": counts, "by": "archiver"})
        return counts
