"""A person's rows in the database: everything held about them, and their erasure.

A person is ``CHANNEL:USER`` — the channel and the platform's user id as the gateway
records them (``whatsapp:+15005550006``, ``slack:U0PERSON1``, ``telegram:111111111``,
``web:<the site's user id>``). Their conversations are those the archive or the desk
recorded with that channel and user; with them go every turn, archived message, rating,
review label, handoff, handoff message and note of those conversations.

Erasure deletes those rows in one transaction. The audit log keeps its entries about the
person's conversations — who did what, when — but their conversation ids become a keyed
pseudonym and their details are dropped, so the trail stays and the person is gone from
it. (This is the one change an audit entry ever sees; no API changes one.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.database import Database
from desk.errors import RecordError
from desk.schema import (
    ArchivedMessageRow,
    AuditEntryRow,
    Base,
    ConversationRow,
    FeedbackRow,
    HandoffMessageRow,
    HandoffRow,
    NoteRow,
    ReviewLabelRow,
    TurnRow,
)

__all__ = ["Person", "PersonIdError", "erase_rows", "export_rows", "parse_person"]

_CHANNELS = ("web", "webchat", "slack", "telegram", "whatsapp")
_PERSON = re.compile(rf"({'|'.join(_CHANNELS)}):([!-~]{{1,200}})")  # printable ASCII
# The tables keyed by conversation, in the order their rows are exported and deleted.
_BY_CONVERSATION: tuple[type[Any], ...] = (TurnRow, ArchivedMessageRow, FeedbackRow,
                                            ReviewLabelRow)


class PersonIdError(RecordError):
    """A person id that is not ``CHANNEL:USER``."""


@dataclass(frozen=True, slots=True)
class Person:
    channel: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.user_id}"


def parse_person(text: str) -> Person:
    """``CHANNEL:USER`` (the user id: 1 to 200 printable ASCII characters, no space) as a
    :class:`Person`; a clear error naming the expected form."""
    match = _PERSON.fullmatch(text)
    if match is None:
        raise PersonIdError(f"a person is CHANNEL:USER with CHANNEL one of "
                            f"{', '.join(_CHANNELS)} and USER 1 to 200 printable ASCII "
                            f"characters (such as whatsapp:+15005550006), got {text[:80]!r}")
    return Person(match[1], match[2])


async def conversation_ids(session: AsyncSession, person: Person) -> list[str]:
    """The person's conversations the archive or the desk recorded."""
    archived = select(ConversationRow.id).where(ConversationRow.channel == person.channel,
                                                ConversationRow.user_id == person.user_id)
    handed = select(HandoffRow.conversation_id).where(HandoffRow.channel == person.channel,
                                                      HandoffRow.user_id == person.user_id)
    found = {*await session.scalars(archived), *await session.scalars(handed)}
    return sorted(found)


async def export_rows(db: Database, person: Person, extra_conversations: Sequence[str] = ()
                      ) -> dict[str, Any]:
    """Every row about ``person`` (and about ``extra_conversations``, known from Redis),
    decrypted, as JSON-ready data: ``{"conversations": [...]}``, each conversation with its
    ``turns``, ``messages``, ``feedback``, ``review_labels``, ``handoffs`` (each with its
    ``messages`` and ``notes``) and the ``audit`` entries that name it."""
    async with db.reads() as session:
        ids = sorted({*await conversation_ids(session, person), *extra_conversations})
        exported = [await _conversation(session, cid) for cid in ids]
    return {"conversations": exported}


async def erase_rows(db: Database, person: Person, extra_conversations: Sequence[str] = (),
                     *, pseudonym: str) -> dict[str, int]:
    """Delete every row about ``person`` (module doc); rows deleted per table, and the
    audit entries made anonymous (``audit_log``). ``pseudonym`` replaces their
    conversation ids in the audit log."""
    counts: dict[str, int] = {}
    async with db.sessions.begin() as session:
        ids = sorted({*await conversation_ids(session, person), *extra_conversations})
        if not ids:
            return counts
        handoffs = list(await session.scalars(
            select(HandoffRow.id).where(HandoffRow.conversation_id.in_(ids))))
        tables: tuple[type[Any], ...] = (*_BY_CONVERSATION, HandoffMessageRow, NoteRow)
        for table in tables:
            column = table.__table__.c.conversation_id
            result = await session.execute(delete(table).where(column.in_(ids)))
            counts[table.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        result = await session.execute(delete(HandoffRow).where(HandoffRow.id.in_(handoffs)))
        counts[HandoffRow.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        result = await session.execute(delete(ConversationRow).where(
            ConversationRow.id.in_(ids)))
        counts[ConversationRow.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        result = await session.execute(
            update(AuditEntryRow).where(AuditEntryRow.conversation_id.in_(ids))
            .values(conversation_id=pseudonym, detail={"erased": True}))
        counts[AuditEntryRow.__tablename__] = result.rowcount  # type: ignore[attr-defined]
    return {name: count for name, count in counts.items() if count}


async def _conversation(session: AsyncSession, cid: str) -> dict[str, Any]:
    row = await session.get(ConversationRow, cid)
    exported: dict[str, Any] = {"id": cid, **(_plain(row) if row is not None else {})}
    for table in _BY_CONVERSATION:
        column = table.__table__.c.conversation_id
        rows = await session.scalars(select(table).where(column == cid))
        exported[_NAMES[table]] = [_plain(r) for r in rows]
    handoffs = []
    for handoff in await session.scalars(select(HandoffRow).where(
            HandoffRow.conversation_id == cid).order_by(HandoffRow.requested_at)):
        item = _plain(handoff)
        item["messages"] = [_plain(m) for m in await session.scalars(
            select(HandoffMessageRow).where(HandoffMessageRow.handoff_id == handoff.id)
            .order_by(HandoffMessageRow.at))]
        item["notes"] = [_plain(n) for n in await session.scalars(
            select(NoteRow).where(NoteRow.handoff_id == handoff.id).order_by(NoteRow.at))]
        handoffs.append(item)
    exported["handoffs"] = handoffs
    exported["audit"] = [_plain(a) for a in await session.scalars(
        select(AuditEntryRow).where(AuditEntryRow.conversation_id == cid)
        .order_by(AuditEntryRow.id))]
    return exported


_NAMES: dict[type[Any], str] = {TurnRow: "turns", ArchivedMessageRow: "messages",
                                 FeedbackRow: "feedback", ReviewLabelRow: "review_labels"}


def _plain(row: Base) -> dict[str, Any]:
    """A row's columns as JSON-ready values (times as ISO 8601)."""
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        values[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return values
