"""The archive's retention (``desk.retention``) on PostgreSQL and SQLite: the purge deletes
exactly the rows of the conversations quiet since before the cutoff — with their handoffs,
handoff messages, notes and review labels — and keeps a conversation with anything newer
or an open handoff; the dry run counts the same rows and deletes nothing; batches change
nothing; the audit log stays. ``PARLEY_ARCHIVE_RETENTION_DAYS`` and its errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from brain.dialogue.events import UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import InboundMessage, OutboundMessage
from desk import audit
from desk.accounts import Accounts, User
from desk.archive_store import parse_record, store_turns
from desk.database import Database
from desk.records import add_message, upsert_handoff
from desk.retention import TABLES, ArchiveRetention, ArchiveRetentionError, purge_archive
from desk.review_labels import label
from desk.schema import AuditEntryRow, ConversationRow, HandoffRow, NoteRow
from tests.desk.conftest import Run
from workers.turn_record import turn_record

NOW = datetime(2031, 3, 1, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=365)
OLD = CUTOFF - timedelta(days=40)      # quiet long enough
LATER = CUTOFF + timedelta(days=2)     # after the cutoff: keeps its conversation


def turn(chat: str, sequence: int, at: datetime, *, kind: str = "message",
         feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """A turn record as the worker writes it, received at ``at``, with one reply."""
    message = InboundMessage(channel="web", account="site", chat=chat, user_id=f"u-{chat}",
                             message_id=f"{chat}-{sequence}", text="my order is late",
                             sequence=sequence, received_at=at.timestamp(),
                             kind=kind)  # type: ignore[arg-type]
    events = [UserUttered(text="my order is late", parse={
        "intent": {"name": "order_status", "confidence": 0.9}, "entities": []})]
    reply = OutboundMessage(conversation_id=message.conversation_id, channel="web",
                            in_reply_to=message.message_id, sequence=sequence, index=0,
                            text="Let me look.")
    raw = turn_record(message, Tracker(message.conversation_id), events, [reply],
                      model="nlu-1", queued_at=at.timestamp() + 0.2, feedback=feedback)
    parsed = parse_record(raw)
    assert parsed is not None
    return parsed


def handoff(chat: str, *, requested: datetime, closed: datetime | None,
            status: str = "closed") -> dict[str, str]:
    """A handoff's Redis record (``desk.records.upsert_handoff`` stores it)."""
    return {"id": uuid.uuid4().hex, "conversation_id": f"web:site:{chat}", "channel": "web",
            "user_id": f"u-{chat}", "team": "support", "reason": "asked for a person",
            "status": status, "agent": "", "requested_at": f"{requested.timestamp():.3f}",
            "claimed_at": "", "first_reply_at": "",
            "closed_at": f"{closed.timestamp():.3f}" if closed else "", "sla_deadline": "",
            "epoch": "1", "request": json.dumps({"transcript": []})}


async def _desk_rows(db: Database, record: dict[str, str], *, message_at: datetime,
                     note_at: datetime, author: User) -> None:
    await upsert_handoff(db, record)
    await add_message(db, message_id=f"m-{record['id']}", handoff_id=record["id"],
                      conversation_id=record["conversation_id"], author_kind="user",
                      author_id=record["user_id"], text="are you there?", at=message_at)
    async with db.sessions.begin() as session:  # a note written then (add_note says now)
        session.add(NoteRow(id=uuid.uuid4().hex, handoff_id=record["id"],
                            conversation_id=record["conversation_id"], author_id=author.id,
                            text="called them back", at=note_at))


@pytest.fixture
def agent(database: Database, run: Run[Any]) -> User:
    accounts = Accounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                        parallelism=1))
    return run(accounts.add_user("ana@example.com", "agent", ["support"])).user


async def seed(db: Database, agent: User) -> None:
    """Six conversations; ``old`` and ``desk-old`` are to go, the others are kept."""
    thumbs = {"kind": "thumbs", "value": 1, "comment": "", "about_sequence": 1,
              "about_position": 0}
    await store_turns(db, [
        turn("old", 1, OLD), turn("old", 2, OLD + timedelta(hours=1)),
        turn("old", 3, OLD + timedelta(hours=2), kind="feedback", feedback=thumbs),
        turn("recent", 1, OLD), turn("recent", 2, LATER),              # a turn after
        turn("held", 1, OLD),                                          # an open handoff
        turn("answered", 1, OLD),                                      # a note after
    ])
    await label(db, conversation_id="web:site:old", sequence=1, verdict="correct",
                intent=None, entities=None, reviewer=agent)
    await label(db, conversation_id="web:site:recent", sequence=1, verdict="correct",
                intent=None, entities=None, reviewer=agent)
    closed = OLD + timedelta(hours=3)
    await _desk_rows(db, handoff("old", requested=OLD, closed=closed), message_at=OLD,
                     note_at=closed, author=agent)
    await _desk_rows(db, handoff("held", requested=OLD, closed=None, status="active"),
                     message_at=OLD, note_at=OLD, author=agent)
    await _desk_rows(db, handoff("answered", requested=OLD, closed=closed), message_at=OLD,
                     note_at=LATER, author=agent)
    await _desk_rows(db, handoff("desk-old", requested=OLD, closed=closed), message_at=OLD,
                     note_at=OLD, author=agent)                         # no archive rows
    await _desk_rows(db, handoff("desk-new", requested=OLD, closed=LATER), message_at=OLD,
                     note_at=OLD, author=agent)


async def counts(db: Database) -> dict[str, int]:
    from desk.retention import _statements  # the tables, read whole

    found = {}
    async with db.reads() as session:
        for table, row, _ in _statements(["-"]):
            found[table] = int(await session.scalar(select(func.count()).select_from(row)) or 0)
    return found


EXPECTED = {"turns": 3, "messages": 3, "feedback": 1, "review_labels": 1, "notes": 2,
            "handoff_messages": 2, "handoffs": 2, "conversations": 1}
KEPT = {"web:site:recent", "web:site:held", "web:site:answered", "web:site:desk-new"}


def test_the_purge_deletes_exactly_the_conversations_quiet_since_before_the_cutoff(
        database: Database, agent: User, run: Run[Any]) -> None:
    run(seed(database, agent))
    run(audit.record(database, actor=agent, action="handoff.closed",
                     conversation_id="web:site:old"))
    before = run(counts(database))
    assert run(purge_archive(database, cutoff=CUTOFF, dry_run=True)) == EXPECTED
    assert run(counts(database)) == before  # the dry run deleted nothing
    assert run(purge_archive(database, cutoff=CUTOFF)) == EXPECTED
    after = run(counts(database))
    assert {t: before[t] - after[t] for t in TABLES} == EXPECTED

    async def left() -> tuple[set[str], set[str], int]:
        async with database.reads() as session:
            summaries = set(await session.scalars(select(ConversationRow.id)))
            desk = set(await session.scalars(select(HandoffRow.conversation_id)))
            audited = await session.scalar(select(func.count()).select_from(AuditEntryRow))
        return summaries, desk, int(audited or 0)

    summaries, desk, audited = run(left())
    assert summaries == {"web:site:recent", "web:site:held", "web:site:answered"}
    assert desk == {"web:site:held", "web:site:answered", "web:site:desk-new"}
    assert summaries | desk == KEPT
    assert audited >= 3  # the labels' and the close's entries stay
    assert run(purge_archive(database, cutoff=CUTOFF)) == dict.fromkeys(TABLES, 0)


def test_batches_of_one_conversation_purge_the_same_rows(
        database: Database, agent: User, run: Run[Any]) -> None:
    run(seed(database, agent))
    assert run(purge_archive(database, cutoff=CUTOFF, batch=1, dry_run=True)) == EXPECTED
    assert run(purge_archive(database, cutoff=CUTOFF, batch=1)) == EXPECTED


def test_a_later_cutoff_takes_the_rest_but_never_an_open_handoff(
        database: Database, agent: User, run: Run[Any]) -> None:
    run(seed(database, agent))
    purged = run(purge_archive(database, cutoff=NOW))
    assert purged["conversations"] == 3 and purged["handoffs"] == 4  # all but "held"

    async def held() -> list[str]:
        async with database.reads() as session:
            return list(await session.scalars(select(HandoffRow.status)))

    assert run(held()) == ["active"]


def test_the_archive_retention_is_read_from_the_environment() -> None:
    assert ArchiveRetention.from_env({}).days == 365
    assert ArchiveRetention.from_env({"PARLEY_ARCHIVE_RETENTION_DAYS": "90"}).days == 90
    assert ArchiveRetention.from_env({"PARLEY_ARCHIVE_RETENTION_DAYS": "off"}).days is None
    assert ArchiveRetention(days=None).cutoff(NOW) is None
    assert ArchiveRetention(days=10).cutoff(NOW) == NOW - timedelta(days=10)
    for bad in ("0", "-3", "1.5", "forever", "99999"):
        with pytest.raises(ArchiveRetentionError,
                           match="PARLEY_ARCHIVE_RETENTION_DAYS must be a whole number"):
            ArchiveRetention.from_env({"PARLEY_ARCHIVE_RETENTION_DAYS": bad})
