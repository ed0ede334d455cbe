"""How long the database of record keeps a conversation (``PARLEY_ARCHIVE_RETENTION_DAYS``),
and the purge that deletes what is older.

The unit is the conversation, as in Redis (``workers.retention``): a conversation is
forgotten once its last activity is older than the cutoff — the latest of its archive
summary's ``last_at`` (its last archived turn), its turns, its handoffs' request, claim,
first reply and close, their messages and their notes. Then every row of it goes, in one
transaction per batch of conversations: ``turns``, ``messages``, ``feedback``,
``review_labels`` (they hold the person's text), ``notes``, ``handoff_messages``,
``handoffs`` and the ``conversations`` summary. A conversation with an open handoff
(``waiting``, ``offline``, ``active``) is kept whatever its age: someone still has to
answer it.

What stays: ``audit_log``. Its entries name conversations and handoffs by id and never hold
what anyone wrote; they are the record of who did what, so they outlive what they name
(the purge adds one, ``archive.purged``, with the cutoff and the counts, when it deleted
anything). Accounts and teams are not conversations' data.

``purge_archive`` runs on PostgreSQL and SQLite alike (SQLAlchemy Core; the tables'
identifiers and times are plain columns even with encryption at rest), in batches of
``batch`` conversations so that no transaction holds the database long (on SQLite every
write waits for the one lock). ``dry_run`` counts the same rows without deleting them.
The periodic job is ``desk.purge_job``; ``parley privacy purge`` runs it once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from desk.database import Database
from desk.errors import DeskError
from desk.schema import (
    ArchivedMessageRow,
    ConversationRow,
    FeedbackRow,
    HandoffMessageRow,
    HandoffRow,
    HandoffStatus,
    NoteRow,
    ReviewLabelRow,
    TurnRow,
)

__all__ = ["DEFAULT_DAYS", "TABLES", "ArchiveRetention", "ArchiveRetentionError",
           "purge_archive"]

DEFAULT_DAYS = 365
_VARIABLE = "PARLEY_ARCHIVE_RETENTION_DAYS"
_MAX_DAYS = 36500
# Deleted in this order (children first), and so counted.
TABLES = ("turns", "messages", "feedback", "review_labels", "notes", "handoff_messages",
          "handoffs", "conversations")
_OPEN = (HandoffStatus.WAITING.value, HandoffStatus.OFFLINE.value, HandoffStatus.ACTIVE.value)


class ArchiveRetentionError(DeskError, ValueError):
    """One line naming the variable and the expected form."""


@dataclass(frozen=True, slots=True)
class ArchiveRetention:
    """``days``: how long a conversation's rows outlive its last activity (``None``:
    ``PARLEY_ARCHIVE_RETENTION_DAYS=off``, kept forever). ``interval_seconds``: how often
    the archiver purges (one replica at a time); ``batch``: conversations per transaction."""

    days: int | None = DEFAULT_DAYS
    interval_seconds: float = 3600.0
    batch: int = 500

    def cutoff(self, now: datetime) -> datetime | None:
        """Rows of conversations whose last activity is before this go (``None``: none)."""
        return None if self.days is None else now - timedelta(days=self.days)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArchiveRetention:
        env = os.environ if environ is None else environ
        raw = (env.get(_VARIABLE) or "").strip()
        if not raw:
            return cls()
        if raw.lower() == "off":
            return cls(days=None)
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_DAYS:
            raise ArchiveRetentionError(f"{_VARIABLE} must be a whole number of days from 1 "
                                        f"to {_MAX_DAYS}, or off (keep forever), got {raw!r}")
        return cls(days=int(raw))


async def purge_archive(db: Database, *, cutoff: datetime, batch: int = 500,
                        dry_run: bool = False) -> dict[str, int]:
    """Delete (``dry_run``: count) the rows of every conversation whose last activity is
    before ``cutoff`` (module doc); the rows per table, in ``TABLES`` order."""
    counts = dict.fromkeys(TABLES, 0)
    for candidates in (_summarised, _desk_only):
        after = ""
        while True:
            # Looked for in a read (on SQLite no write lock is taken when there is nothing
            # to purge, the usual hourly case), then looked for again among those found in
            # the deleting transaction: one active meanwhile is kept.
            async with db.reads() as session:
                ids = list(await session.scalars(candidates(cutoff, after).limit(batch)))
                if dry_run and ids:
                    found = await _count(session, ids)
            if not ids:
                break
            if not dry_run:
                async with db.sessions.begin() as session:
                    still = list(await session.scalars(candidates(cutoff, "", among=ids)))
                    found = await _delete(session, still) if still else {}
            for table, n in found.items():
                counts[table] += n
            if len(ids) < batch:
                break
            after = ids[-1]
    return counts


def _quiet(conversation: Any, cutoff: datetime) -> ColumnElement[bool]:
    """Nothing of ``conversation`` (a column) happened at or after ``cutoff``, and no
    handoff of it is open."""
    # aliases: the desk-only query reads ``handoffs`` too, and must not correlate with them
    h, h2, m = aliased(HandoffRow), aliased(HandoffRow), aliased(HandoffMessageRow)
    n, t = aliased(NoteRow), aliased(TurnRow)
    recent_handoff = exists().where(h.conversation_id == conversation, or_(
        h.status.in_(_OPEN), h.requested_at >= cutoff, h.claimed_at >= cutoff,
        h.first_reply_at >= cutoff, h.closed_at >= cutoff))
    recent_message = exists().where(m.conversation_id == conversation, m.at >= cutoff)
    recent_note = exists().where(h2.conversation_id == conversation, n.handoff_id == h2.id,
                                 n.at >= cutoff)  # by handoff: notes are indexed so
    recent_turn = exists().where(t.conversation_id == conversation, t.at >= cutoff)
    return and_(~recent_handoff, ~recent_message, ~recent_note, ~recent_turn)


def _summarised(cutoff: datetime, after: str, among: Sequence[str] | None = None) -> Any:
    """Conversations of the archive, by id (after ``after``; of ``among``, if given), whose
    last activity is before ``cutoff``."""
    c = ConversationRow
    query = select(c.id).where(c.last_at < cutoff, c.id > after, _quiet(c.id, cutoff))
    return (query if among is None else query.where(c.id.in_(among))).order_by(c.id)


def _desk_only(cutoff: datetime, after: str, among: Sequence[str] | None = None) -> Any:
    """Conversations only the desk knows (no archive summary: the archiver was off, or the
    summary went first), as ``_summarised``."""
    h = HandoffRow
    summarised = exists().where(ConversationRow.id == h.conversation_id)
    query = select(h.conversation_id).where(h.conversation_id > after, ~summarised,
                                            _quiet(h.conversation_id, cutoff))
    if among is not None:
        query = query.where(h.conversation_id.in_(among))
    return query.group_by(h.conversation_id).order_by(h.conversation_id)


def _statements(ids: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """(table, mapped class, condition) for the rows of the conversations ``ids``."""
    handoffs = select(HandoffRow.id).where(HandoffRow.conversation_id.in_(ids))
    return [
        ("turns", TurnRow, TurnRow.conversation_id.in_(ids)),
        ("messages", ArchivedMessageRow, ArchivedMessageRow.conversation_id.in_(ids)),
        ("feedback", FeedbackRow, FeedbackRow.conversation_id.in_(ids)),
        ("review_labels", ReviewLabelRow, ReviewLabelRow.conversation_id.in_(ids)),
        ("notes", NoteRow, NoteRow.handoff_id.in_(handoffs)),
        ("handoff_messages", HandoffMessageRow, or_(
            HandoffMessageRow.conversation_id.in_(ids), HandoffMessageRow.handoff_id.in_(
                handoffs))),
        ("handoffs", HandoffRow, HandoffRow.conversation_id.in_(ids)),
        ("conversations", ConversationRow, ConversationRow.id.in_(ids)),
    ]


async def _delete(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, row, condition in _statements(ids):
        result: Any = await session.execute(delete(row).where(condition)
                                            .execution_options(synchronize_session=False))
        counts[table] = int(result.rowcount or 0)
    return counts


async def _count(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, row, condition in _statements(ids):
        counts[table] = int(await session.scalar(
            select(func.count()).select_from(row).where(condition)) or 0)
    return counts
