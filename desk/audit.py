"""The audit log (table ``audit_log``): every agent and admin action — claim, reply, note,
transfer, hand back, close, login, user changes — with who, when, and which conversation.

Entries are only ever added. The actor's email is copied into the entry, so that the log
still says who it was after the account changes. ``detail`` is a small JSON object of the
action's particulars; it must not hold secrets (no passwords, no tokens).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from desk.accounts import User
from desk.database import Database
from desk.errors import RecordError
from desk.schema import AuditEntryRow, utcnow

__all__ = ["MAX_AUDIT_PAGE", "AuditEntry", "list_audit", "record"]

MAX_AUDIT_PAGE = 500
_ACTION_LENGTH = 64
_DETAIL_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: str | None
    actor_email: str | None
    action: str
    conversation_id: str | None
    handoff_id: str | None
    detail: Mapping[str, Any]
    ip: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.timestamp(), "actor_id": self.actor_id,
                "actor_email": self.actor_email, "action": self.action,
                "conversation_id": self.conversation_id, "handoff_id": self.handoff_id,
                "detail": dict(self.detail), "ip": self.ip}


async def record(db: Database, *, actor: User | None, action: str,
                 conversation_id: str | None = None, handoff_id: str | None = None,
                 detail: Mapping[str, Any] | None = None, ip: str | None = None) -> AuditEntry:
    """Add one entry (``actor`` None: the system, e.g. a queue timeout) and return it."""
    if not action or len(action) > _ACTION_LENGTH:
        raise RecordError(f"an audit action is 1 to {_ACTION_LENGTH} characters: {action!r}")
    detail = dict(detail or {})
    try:
        size = len(json.dumps(detail))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"the audit detail of {action!r} is not JSON: {exc}") from exc
    if size > _DETAIL_BYTES:
        raise RecordError(f"the audit detail of {action!r} is {size} bytes; at most "
                          f"{_DETAIL_BYTES}")
    row = AuditEntryRow(at=utcnow(), actor_id=actor.id if actor else None,
                        actor_email=actor.email if actor else None, action=action,
                        conversation_id=conversation_id, handoff_id=handoff_id, detail=detail,
                        ip=ip)
    async with db.sessions.begin() as session:
        session.add(row)
        await session.flush()
        return _entry(row)


async def list_audit(db: Database, limit: int = 100, before_id: int | None = None,
                     conversation_id: str | None = None) -> list[AuditEntry]:
    """The newest entries first, at most ``limit`` (capped at :data:`MAX_AUDIT_PAGE`);
    ``before_id`` pages back from the last id of the previous page."""
    if limit < 1:
        raise RecordError(f"an audit page holds at least 1 entry, not {limit}")
    query = select(AuditEntryRow).order_by(AuditEntryRow.id.desc()).limit(
        min(limit, MAX_AUDIT_PAGE))
    if before_id is not None:
        query = query.where(AuditEntryRow.id < before_id)
    if conversation_id is not None:
        query = query.where(AuditEntryRow.conversation_id == conversation_id)
    async with db.reads() as session:
        return [_entry(row) for row in await session.scalars(query)]


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor_id=row.actor_id, actor_email=row.actor_email,
                      action=row.action, conversation_id=row.conversation_id,
                      handoff_id=row.handoff_id, detail=row.detail, ip=row.ip)
