"""The archive's periodic purge (``desk.purge_job``) on real Redis and both databases: one
replica purges a round (the lock), counts it in its metrics and the audit log; the archiver
runs it by itself when given a retention."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from desk.accounts import User
from desk.archive_store import store_turns
from desk.archiver import Archiver
from desk.audit import list_audit
from desk.database import Database
from desk.purge_job import LOCK_KEY, ArchivePurgeJob
from desk.retention import ArchiveRetention
from desk.schema import ConversationRow
from tests.desk.conftest import Run
from tests.desk.test_retention import EXPECTED, NOW, agent, seed, turn  # noqa: F401
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401

pytestmark = pytest.mark.timeout(90)


def test_one_replica_purges_each_round_and_counts_it(
        database: Database, agent: User, run: Run[Any],
        clean_redis: redis.Redis) -> None:
    run(seed(database, agent))
    registries = CollectorRegistry(), CollectorRegistry()

    async def two_replicas() -> list[dict[str, int] | None]:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            jobs = [ArchivePurgeJob(client, database, retention=ArchiveRetention(days=365),
                                    registry=registry, clock=NOW.timestamp)
                    for registry in registries]
            return [await job.run_once() for job in jobs]
        finally:
            await client.aclose()

    assert run(two_replicas()) == [EXPECTED, None]  # the second found the round taken
    assert 0 < clean_redis.pttl(LOCK_KEY) <= 3600 * 1000
    mine, other = registries
    for table, n in EXPECTED.items():
        assert mine.get_sample_value("parley_archive_purged_rows_total", {"table": table}) == n
        assert other.get_sample_value("parley_archive_purged_rows_total",
                                      {"table": table}) == 0
    assert mine.get_sample_value("parley_archive_purge_runs_total", {"outcome": "done"}) == 1
    assert mine.get_sample_value("parley_archive_purge_last_success_timestamp_seconds") == \
        NOW.timestamp()
    (entry,) = [e for e in run(list_audit(database)) if e.action == "archive.purged"]
    assert entry.actor_id is None and entry.detail["rows"] == EXPECTED


def test_the_archiver_purges_by_itself(database: Database, run: Run[Any],
                                       clean_redis: redis.Redis) -> None:
    now = datetime.now(UTC)
    run(store_turns(database, [turn("ancient", 1, now - timedelta(days=400)),
                               turn("fresh", 1, now - timedelta(days=1))]))

    async def archiving() -> set[str]:
        client = aioredis.Redis.from_url(REDIS_URL)
        archiver = Archiver(client, database, consumer="test",
                            retention=ArchiveRetention(days=365), purge_first_delay=0.0)
        try:
            async with archiver:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    async with database.reads() as session:
                        left = set(await session.scalars(select(ConversationRow.id)))
                    if "web:site:ancient" not in left:
                        return left
                    await asyncio.sleep(0.2)
                return left
        finally:
            await client.aclose()

    assert run(archiving()) == {"web:site:fresh"}
