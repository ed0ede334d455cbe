"""Handoffs, their messages and their notes in the database of record (tables ``handoffs``,
``handoff_messages`` and ``notes``).

Redis holds the live handoff (``parley:desk:handoff:<id>``, the desk contract); this module
keeps the lasting copy. Writers may see a record more than once and out of order (a stream
redelivered after a crash, two replicas), so every write is idempotent: a handoff is
upserted and an older copy (a lower ownership ``epoch``) never overwrites a newer one; a
message is keyed by its own id and stored once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.accounts import User
from desk.database import Database, insert_ignoring_duplicates
from desk.errors import RecordError, UnknownHandoffError
from desk.schema import (
    CONVERSATION,
    ID,
    MESSAGE_ID,
    PLATFORM_USER,
    TEAM,
    AuthorKind,
    HandoffMessageRow,
    HandoffRow,
    HandoffStatus,
    NoteRow,
    utcnow,
)

__all__ = ["MAX_TEXT", "Handoff", "HandoffMessage", "Note", "add_message", "add_note",
           "get_handoff", "list_handoffs", "messages_for", "notes_for", "upsert_handoff"]

MAX_TEXT = 10_000  # characters of a note (agent and user messages are checked upstream)
_TIMES = ("requested_at", "claimed_at", "first_reply_at", "closed_at", "sla_deadline")
# string fields of the Redis record and their longest values; only user_id may be empty
_STRINGS = {"id": ID, "conversation_id": CONVERSATION, "channel": 32, "user_id": PLATFORM_USER,
            "team": TEAM}


@dataclass(frozen=True, slots=True)
class Handoff:
    id: str
    conversation_id: str
    channel: str
    user_id: str
    team: str
    reason: str
    status: HandoffStatus
    agent_id: str | None
    requested_at: datetime
    claimed_at: datetime | None
    first_reply_at: datetime | None
    closed_at: datetime | None
    sla_deadline: datetime | None
    epoch: int
    request: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HandoffMessage:
    id: str
    handoff_id: str
    conversation_id: str
    author_kind: AuthorKind
    author_id: str | None
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    handoff_id: str
    conversation_id: str
    author_id: str | None
    text: str
    at: datetime


async def upsert_handoff(db: Database, record: Mapping[Any, Any]) -> Handoff:
    """Store the handoff ``record`` (the Redis hash, with ``str`` or ``bytes`` keys and
    values, as ``HGETALL`` returns it) and return what the database now holds: the record,
    or a newer copy already there (a higher ``epoch``)."""
    values = _handoff_values(record)
    async with db.sessions.begin() as session:
        new = (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(HandoffRow)
        statement = new.values(values).on_conflict_do_update(
            index_elements=[HandoffRow.id],
            set_={name: new.excluded[name] for name in values if name != "id"},
            where=HandoffRow.epoch <= new.excluded.epoch)
        try:
            await session.execute(statement)
        except IntegrityError as exc:  # agent_id is the only foreign key
            raise RecordError(f"handoff {values['id']}: its agent {values['agent_id']!r} is "
                              "not an account") from exc
        row = await session.get(HandoffRow, values["id"], populate_existing=True)
        assert row is not None
        return _handoff(row)


async def get_handoff(db: Database, handoff_id: str) -> Handoff | None:
    async with db.reads() as session:
        row = await session.get(HandoffRow, handoff_id)
        return None if row is None else _handoff(row)


async def list_handoffs(db: Database, *, status: str | Iterable[str] | None = None,
                        teams: Iterable[str] | None = None, limit: int = 200) -> list[Handoff]:
    """Handoffs in one status (or any of several), of some teams, oldest request first."""
    query = select(HandoffRow).order_by(HandoffRow.requested_at, HandoffRow.id).limit(limit)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        query = query.where(HandoffRow.status.in_([_status(s) for s in statuses]))
    if teams is not None:
        query = query.where(HandoffRow.team.in_(list(teams)))
    async with db.reads() as session:
        return [_handoff(row) for row in await session.scalars(query)]


async def add_message(db: Database, *, message_id: str, handoff_id: str, conversation_id: str,
                      author_kind: str | AuthorKind, author_id: str | None, text: str,
                      at: datetime | float) -> bool:
    """Store one message of a handoff; False when a message with this id is already
    stored (nothing changes then)."""
    kind = _author_kind(author_kind)
    if not message_id or len(message_id) > MESSAGE_ID:
        raise RecordError(f"a message id is 1 to {MESSAGE_ID} characters: {message_id!r}")
    async with db.sessions.begin() as session:
        await _require_handoff(session, handoff_id)
        result = await session.execute(
            insert_ignoring_duplicates(session, HandoffMessageRow).values(
                id=message_id, handoff_id=handoff_id, conversation_id=conversation_id,
                author_kind=kind.value, author_id=author_id, text=text, at=_time(at)))
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def messages_for(db: Database, handoff_id: str) -> list[HandoffMessage]:
    query = (select(HandoffMessageRow).where(HandoffMessageRow.handoff_id == handoff_id)
             .order_by(HandoffMessageRow.at, HandoffMessageRow.id))
    async with db.reads() as session:
        return [HandoffMessage(id=row.id, handoff_id=row.handoff_id,
                               conversation_id=row.conversation_id,
                               author_kind=AuthorKind(row.author_kind), author_id=row.author_id,
                               text=row.text, at=row.at)
                for row in await session.scalars(query)]


async def add_note(db: Database, handoff_id: str, conversation_id: str, author: User,
                   text: str) -> Note:
    """An agent's internal note on a handoff (never sent to the user)."""
    if not text.strip() or len(text) > MAX_TEXT:
        raise RecordError(f"a note has 1 to {MAX_TEXT} characters")
    row = NoteRow(id=uuid.uuid4().hex, handoff_id=handoff_id, conversation_id=conversation_id,
                  author_id=author.id, text=text, at=utcnow())
    async with db.sessions.begin() as session:
        await _require_handoff(session, handoff_id)
        session.add(row)
    return _note(row)


async def notes_for(db: Database, handoff_id: str) -> list[Note]:
    query = select(NoteRow).where(NoteRow.handoff_id == handoff_id).order_by(NoteRow.at,
                                                                               NoteRow.id)
    async with db.reads() as session:
        return [_note(row) for row in await session.scalars(query)]


async def _require_handoff(session: AsyncSession, handoff_id: str) -> None:
    if await session.get(HandoffRow, handoff_id) is None:
        raise UnknownHandoffError(f"no handoff has the id {handoff_id!r}")


def _handoff_values(record: Mapping[Any, Any]) -> dict[str, Any]:
    fields = {_decode(key): value for key, value in record.items()}
    values: dict[str, Any] = {}
    for name, longest in _STRINGS.items():
        value = _decode(fields.get(name, ""))
        if len(value) > longest or (not value and name != "user_id"):
            raise RecordError(f"handoff record: {name} must be 1 to {longest} characters, "
                              f"not {value!r}")
        values[name] = value
    values["reason"] = _decode(fields.get("reason", ""))
    values["status"] = _status(_decode(fields.get("status", "")))
    values["agent_id"] = _decode(fields.get("agent", "")) or None
    for name in _TIMES:
        values[name] = _seconds(name, fields.get(name))
    if values["requested_at"] is None:
        raise RecordError("handoff record: requested_at is missing")
    values["epoch"] = _integer("epoch", fields.get("epoch", 0))
    values["request"] = _request(fields.get("request"))
    return values


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(name: str, value: Any) -> datetime | None:
    text = "" if value is None else _decode(value).strip()
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise RecordError(f"handoff record: {name} is not seconds since the epoch: "
                          f"{text!r}") from exc


def _integer(name: str, value: Any) -> int:
    try:
        return int(_decode(value) or 0)
    except ValueError as exc:
        raise RecordError(f"handoff record: {name} is not an integer: {value!r}") from exc


def _request(value: Any) -> dict[str, Any]:
    if value is None or value in ("", b""):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise RecordError("handoff record: request is not JSON") from exc
    if not isinstance(parsed, dict):
        raise RecordError("handoff record: request is not a JSON object")
    return parsed


def _status(value: str) -> str:
    try:
        return HandoffStatus(value).value
    except ValueError:
        raise RecordError(f"unknown handoff status {value!r}; the statuses are "
                          f"{', '.join(s.value for s in HandoffStatus)}") from None


def _author_kind(value: str | AuthorKind) -> AuthorKind:
    try:
        return AuthorKind(value)
    except ValueError:
        raise RecordError(f"unknown message author {value!r}; one of "
                          f"{', '.join(k.value for k in AuthorKind)}") from None


def _time(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RecordError(f"a message time needs a time zone: {value!r}")
        return value
    return datetime.fromtimestamp(value, UTC)


def _handoff(row: HandoffRow) -> Handoff:
    return Handoff(id=row.id, conversation_id=row.conversation_id, channel=row.channel,
                   user_id=row.user_id, team=row.team, reason=row.reason,
                   status=HandoffStatus(row.status), agent_id=row.agent_id,
                   requested_at=row.requested_at, claimed_at=row.claimed_at,
                   first_reply_at=row.first_reply_at, closed_at=row.closed_at,
                   sla_deadline=row.sla_deadline, epoch=row.epoch, request=row.request)


def _note(row: NoteRow) -> Note:
    return Note(id=row.id, handoff_id=row.handoff_id, conversation_id=row.conversation_id,
                author_id=row.author_id, text=row.text, at=row.at)
