"""A person's rights of access and erasure: everything held about them, as JSON, and all of
it removed — from Redis (``desk.person_state``) and from the database (``desk.people``) —
each act written to the audit log.

The erasure's order closes the races with work in flight: Redis first (a turn being served
loses its lease and commits nothing; the streams' entries that name the person go, so no
consumer stores them later), then the database; then it waits until the archiver and the
desk recorder have acknowledged every entry they had read before, and deletes from the
database once more (a batch they were storing while the erasure ran). The audit entry
names who erased whom by a keyed pseudonym (``channels.log_privacy.pseudonym``, the same
as log lines show), with the counts — never the person's id or data.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from sqlalchemy import select

from channels.log_privacy import pseudonym
from desk import audit
from desk.accounts import User
from desk.archiver import GROUP as ARCHIVER_GROUP
from desk.database import Database
from desk.people import Person, conversation_ids, erase_rows, export_rows
from desk.person_state import erase_conversations, export_conversations, redis_conversations
from desk.recorder import GROUP as RECORDER_GROUP
from desk.schema import TurnRow
from workers.bus import ARCHIVE_STREAM, DESK_EVENTS_STREAM, redis_text

__all__ = ["ERASE_ACTION", "EXPORT_ACTION", "erase_person", "export_person", "person_pseudonym"]

EXPORT_ACTION, ERASE_ACTION = "person.export", "person.erase"
_SETTLE_SECONDS = 15.0  # how long an erasure waits for the consumers' batches in flight


def person_pseudonym(person: Person) -> str:
    return f"{person.channel}:{pseudonym(str(person))}"


async def export_person(db: Database, client: aioredis.Redis, people: Sequence[Person], *,
                        actor: User | None, ip: str | None = None, via: str = "desk API"
                        ) -> dict[str, Any]:
    """Everything held about one person, known by ``people`` (an id per channel): per
    conversation its Redis state and its rows."""
    conversations: list[dict[str, Any]] = []
    for person in people:
        in_redis = await redis_conversations(client, person.channel, person.user_id)
        rows = await export_rows(db, person, in_redis)
        ids = sorted({*in_redis, *(c["id"] for c in rows["conversations"])})
        state = await export_conversations(client, ids)
        by_id = {c["id"]: c for c in rows["conversations"]}
        conversations += [{"id": cid, "person": str(person), "state": state.get(cid),
                           "archive": by_id.get(cid)} for cid in ids]
    await audit.record(db, actor=actor, action=EXPORT_ACTION, ip=ip,
                       detail={"people": [person_pseudonym(p) for p in people], "via": via,
                               "conversations": len(conversations)})
    return {"people": [str(p) for p in people], "exported_at": time.time(),
            "conversations": conversations}


async def erase_person(db: Database, client: aioredis.Redis, people: Sequence[Person], *,
                       actor: User | None, ip: str | None = None, via: str = "desk API"
                       ) -> dict[str, int]:
    """Remove everything held about one person, known by ``people`` (module doc); what
    went, by kind."""
    counts: Counter[str] = Counter()
    conversations = 0
    for person in people:
        removed, erased = await _erase_one(db, client, person)
        counts.update(removed)
        conversations += erased
    result = {kind: count for kind, count in sorted(counts.items()) if count}
    await audit.record(db, actor=actor, action=ERASE_ACTION, ip=ip,
                       detail={"people": [person_pseudonym(p) for p in people], "via": via,
                               "conversations": conversations, "removed": result})
    return result


async def _erase_one(db: Database, client: aioredis.Redis, person: Person
                     ) -> tuple[Counter[str], int]:
    async with db.reads() as session:
        known = await conversation_ids(session, person)
        message_ids = list(await session.scalars(select(TurnRow.message_id).where(
            TurnRow.conversation_id.in_(known), TurnRow.message_id != ""))) if known else []
    ids = sorted({*known, *await redis_conversations(client, person.channel,
                                                      person.user_id)})
    marks = {stream: await _last_id(client, stream)
             for stream in (ARCHIVE_STREAM, DESK_EVENTS_STREAM)}
    counts: Counter[str] = Counter()
    counts.update(await erase_conversations(client, person.channel, person.user_id, ids,
                                            message_ids))
    name = person_pseudonym(person)
    counts.update(await erase_rows(db, person, ids, pseudonym=name))
    await _settled(client, marks)
    counts.update(await erase_rows(db, person, ids, pseudonym=name))
    return counts, len(ids)


async def _last_id(client: aioredis.Redis, stream: str) -> str | None:
    newest = cast(list[Any], await client.xrevrange(stream, count=1))
    return redis_text(newest[0][0]) if newest else None


async def _settled(client: aioredis.Redis, marks: dict[str, str | None]) -> None:
    """Wait (a bounded time) until the archiver and the desk recorder hold nothing they
    read at or before ``marks`` unacknowledged."""
    groups = {ARCHIVE_STREAM: ARCHIVER_GROUP, DESK_EVENTS_STREAM: RECORDER_GROUP}
    deadline = time.monotonic() + _SETTLE_SECONDS
    for stream, mark in marks.items():
        if mark is None:
            continue
        while time.monotonic() < deadline:
            try:
                pending = await client.xpending_range(stream, groups[stream], min="-",
                                                      max=mark, count=1)
            except aioredis.ResponseError:  # no such group: nobody consumes it here
                break
            if not pending:
                break
            await asyncio.sleep(0.1)
