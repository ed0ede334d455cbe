"""Turn records (``workers.turn_record``) into the archive's rows, exactly once per turn.

``store_turns`` stores one batch in ONE transaction, in three statements of many rows each
(plus one for the replies and one for the feedback):

1. a placeholder ``conversations`` row for each conversation of the batch, unless it has
   one (``ON CONFLICT DO NOTHING``: ``turns`` needs it for its foreign key);
2. the ``turns`` rows, ``ON CONFLICT DO NOTHING ... RETURNING`` their keys: the turns that
   come back are the ones this call inserted — a record stored before (the same batch
   again, another archiver that took it over) comes back as nothing;
3. for those turns only: their ``messages`` and ``feedback`` rows, and one atomic
   ``UPDATE conversations SET n = n + :delta ...`` per conversation. The update reads the
   row's current values in the same statement (``CASE WHEN :last_sequence >
   last_sequence``), so two archivers updating one conversation never lose a count, and a
   turn that arrives after a later one does not change the outcome the later one decided.

Two archivers never deadlock: every statement touches the batch's conversations and turns
sorted by (conversation, sequence), so their locks are taken in one order.

What a turn's row holds (the shared definitions, README "The archive"): ``user_message``
when the entry's kind is ``message``; ``fallback`` when its events reached a fallback stage
≥ 1; ``handoff_requested`` when they hold a ``handoff`` event. A conversation's outcome is
``handed_off`` once any turn requested a handoff, else ``abandoned`` when the turn of its
last user message (by sequence; a rating or a desk entry after it changes nothing) left a
fallback or an unfinished form, else ``resolved``.

Texts lose their NUL characters (PostgreSQL refuses them, in text and in JSONB), NaN and
infinite numbers become null (JSONB refuses them too), texts are clipped to their columns'
lengths; a record that is not a turn record is ``None`` from
``parse_record``. The texts, the record and the replies are stored encrypted
(``desk.encrypted_columns``); what analytics and review count stays in plain columns
(intent, fallback, form events without their values...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, and_, bindparam, case, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.analytics_forms import form_events
from desk.database import Database, insert_ignoring_duplicates
from desk.schema import (
    CONVERSATION,
    MESSAGE_ID,
    PLATFORM_USER,
    ArchivedMessageRow,
    ConversationRow,
    FeedbackRow,
    Outcome,
    TurnRow,
    UtcDateTime,
)

__all__ = ["parse_record", "store_turns"]

_log = logging.getLogger("parley.desk.archive")
_FORMAT = 1
# What JSONB refuses, as it appears in the record's JSON: a NUL escape, NaN, infinities.
_SUSPECT = ("\\u0000", "NaN", "Infinity")
_SUSPECT_BYTES = tuple(n.encode() for n in _SUSPECT)
_FEEDBACK_KINDS = ("thumbs", "csat")
# Core tables, not the mapped classes: the ORM's bulk insert runs an INSERT ... RETURNING
# row by row; Core sends a batch's rows in a few multi-row statements.
_CONVERSATIONS: Any = ConversationRow.__table__
_TURNS: Any = TurnRow.__table__
_MESSAGES: Any = ArchivedMessageRow.__table__
_FEEDBACK: Any = FeedbackRow.__table__


def parse_record(raw: str | bytes) -> dict[str, Any] | None:
    """The turn record in ``raw`` (the stream entry's ``record`` field), or ``None`` for one
    that is not JSON, not format 1, or names no conversation and sequence (logged)."""
    try:
        record = json.loads(raw)
    except (ValueError, TypeError):
        _log.warning("archive: a record that is not JSON was skipped")
        return None
    if not isinstance(record, dict) or record.get("v") != _FORMAT:
        _log.warning("archive: a record of an unknown format was skipped")
        return None
    conversation, sequence = record.get("conversation_id"), record.get("sequence")
    if not isinstance(conversation, str) or not conversation or len(conversation) > CONVERSATION \
            or not isinstance(sequence, int) or isinstance(sequence, bool) \
            or not 0 <= sequence < 2**63:
        _log.warning("archive: a record without a valid conversation id and sequence "
                     "was skipped")
        return None
    if any(n in raw for n in _SUSPECT_BYTES) if isinstance(raw, bytes) \
            else any(n in raw for n in _SUSPECT):
        cleaned: dict[str, Any] = _cleaned(record)
        return cleaned
    return record


async def store_turns(db: Database, records: Sequence[Mapping[str, Any]]) -> int:
    """Store ``records`` (as ``parse_record`` returns them) in one transaction; the number
    of turns that were new. Storing the same records again stores nothing and returns 0."""
    turns = _unique_sorted(records)
    if not turns:
        return 0
    async with db.sessions.begin() as session:
        await session.execute(insert_ignoring_duplicates(session, _CONVERSATIONS),
                              _placeholders(turns))
        inserted = await session.execute(
            insert_ignoring_duplicates(session, _TURNS).returning(
                _TURNS.c.conversation_id, _TURNS.c.sequence),
            [turn.row for turn in turns])
        new_keys = {(conversation, sequence) for conversation, sequence in inserted}
        new = [turn for turn in turns if turn.key in new_keys]
        if new:
            await _store_details(session, new)
    return len(new)


@dataclass(slots=True)
class _Turn:
    """One record's rows, and what it adds to its conversation."""

    key: tuple[str, int]
    row: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    feedback: dict[str, Any] | None = None
    bot_messages: int = 0
    agent_messages: int = 0


def _unique_sorted(records: Sequence[Mapping[str, Any]]) -> list[_Turn]:
    turns: dict[tuple[str, int], _Turn] = {}
    for record in records:
        key = (str(record["conversation_id"]), int(record["sequence"]))
        if key not in turns:
            turns[key] = _turn(record, key)
    return [turns[key] for key in sorted(turns)]


def _turn(record: Mapping[str, Any], key: tuple[str, int]) -> _Turn:
    conversation, sequence = key
    parse = record.get("parse") if isinstance(record.get("parse"), dict) else None
    intent = (parse or {}).get("intent")
    intent = intent if isinstance(intent, dict) else {}
    events = [e for e in record.get("events") or () if isinstance(e, dict)]
    state: Mapping[str, Any] = record.get("state") or {}
    state = state if isinstance(state, dict) else {}
    kind = _text(record.get("kind"), 32)
    user_message = kind == "message"
    received = _time(record.get("received_at"))
    queued = _time(record.get("queued_at"), received)
    intent_name = _optional_text(intent.get("name"), 128)
    row = {
        "conversation_id": conversation, "sequence": sequence,
        "channel": _text(record.get("channel"), 32), "kind": kind,
        "user_message": user_message,
        "message_id": _text(record.get("message_id"), MESSAGE_ID),
        "at": received, "text": _text(record.get("text")),
        "payload": _optional_text(record.get("payload")),
        "intent": intent_name, "confidence": _number(intent.get("confidence")),
        "fallback": any(e.get("type") == "fallback" and _stage(e) >= 1 for e in events),
        "fallback_reason": _optional_text((parse or {}).get("fallback_reason"), 64),
        "out_of_scope": intent_name == "out_of_scope",
        "handoff_requested": any(e.get("type") == "handoff" for e in events),
        "active_form": _optional_text(state.get("active_form"), 128),
        "requested_slot": _optional_text(state.get("requested_slot"), 128),
        "latency_ms": _number(record.get("latency_ms")) if user_message else None,
        "model": _text(record.get("model"), 64) if parse is not None else "",
        "record": dict(record), "form_events": form_events(record),
    }
    turn = _Turn(key=key, row=row)
    _add_replies(turn, record.get("replies"), queued)
    turn.feedback = _feedback(record, key, received)
    return turn


def _add_replies(turn: _Turn, replies: Any, at: datetime) -> None:
    replies = [r for r in replies or () if isinstance(r, dict)]
    indexes = [r.get("index") for r in replies]
    positional = not all(isinstance(i, int) and not isinstance(i, bool) for i in indexes) \
        or len(set(indexes)) != len(indexes)
    for position, reply in enumerate(replies):
        agent = reply.get("author") == "agent"
        if agent:
            turn.agent_messages += 1
        else:
            turn.bot_messages += 1
        buttons = reply.get("buttons") if isinstance(reply.get("buttons"), list) else []
        turn.messages.append({
            "conversation_id": turn.key[0], "sequence": turn.key[1],
            "position": position if positional else reply["index"],
            "author_kind": "agent" if agent else "bot",
            "author_name": _text(reply.get("agent_name"), 200) if agent else "",
            "text": _text(reply.get("text")), "buttons": buttons, "at": at})


def _feedback(record: Mapping[str, Any], key: tuple[str, int],
              at: datetime) -> dict[str, Any] | None:
    control = record.get("feedback")
    if record.get("kind") != "feedback" or not isinstance(control, dict):
        return None
    kind, value = control.get("kind"), control.get("value")
    if kind not in _FEEDBACK_KINDS or not isinstance(value, int) or isinstance(value, bool):
        _log.warning("archive: the feedback of turn %s is of no known kind; its rating "
                     "was not stored", key[1])
        return None
    return {"conversation_id": key[0], "sequence": key[1], "kind": kind, "value": value,
            "comment": _text(control.get("comment")),
            "about_sequence": _whole(control.get("about_sequence")),
            "about_position": _whole(control.get("about_position"), 2**31 - 1),
            "channel": _text(record.get("channel"), 32), "at": at}


def _placeholders(turns: Sequence[_Turn]) -> list[dict[str, Any]]:
    """One row per conversation of the batch, as it would be with no turn stored yet."""
    rows: dict[str, dict[str, Any]] = {}
    for turn in turns:
        row = turn.row
        if row["conversation_id"] not in rows:
            rows[row["conversation_id"]] = {
                "id": row["conversation_id"], "channel": row["channel"],
                "user_id": _text(row["record"].get("user_id"), PLATFORM_USER),
                "first_at": row["at"], "last_at": row["at"], "user_messages": 0,
                "bot_messages": 0, "agent_messages": 0, "fallbacks": 0, "handed_off": False,
                "outcome": Outcome.RESOLVED.value, "last_sequence": 0,
                "outcome_sequence": 0, "model": ""}
    return list(rows.values())


async def _store_details(session: AsyncSession, new: Sequence[_Turn]) -> None:
    messages = [m for turn in new for m in turn.messages]
    if messages:
        await session.execute(insert_ignoring_duplicates(session, _MESSAGES),
                              messages)
    feedback = [turn.feedback for turn in new if turn.feedback is not None]
    if feedback:
        await session.execute(insert_ignoring_duplicates(session, _FEEDBACK), feedback)
    await session.execute(_CONVERSATION_UPDATE, _conversation_deltas(new))


def _conversation_deltas(new: Sequence[_Turn]) -> list[dict[str, Any]]:
    """What the new turns add to each conversation (``new`` is sorted by key, so the last
    turn of a conversation in it is its highest sequence)."""
    deltas: dict[str, dict[str, Any]] = {}
    for turn in new:
        row = turn.row
        d = deltas.get(turn.key[0])
        if d is None:
            d = deltas[turn.key[0]] = {
                "b_id": turn.key[0], "b_user": 0, "b_bot": 0, "b_agent": 0, "b_fallbacks": 0,
                "b_handed_off": False, "b_first": row["at"], "b_last": row["at"],
                "b_model": "", "b_outcome_sequence": 0,
                "b_outcome": Outcome.RESOLVED.value}
        d["b_user"] += row["user_message"]
        d["b_bot"] += turn.bot_messages
        d["b_agent"] += turn.agent_messages
        d["b_fallbacks"] += row["fallback"]
        d["b_handed_off"] = d["b_handed_off"] or row["handoff_requested"]
        d["b_first"], d["b_last"] = min(d["b_first"], row["at"]), max(d["b_last"], row["at"])
        d["b_sequence"] = turn.key[1]
        if row["user_message"]:  # only a person's message decides how it went
            d["b_outcome_sequence"] = turn.key[1]
            d["b_outcome"] = (Outcome.ABANDONED if row["fallback"] or row["active_form"]
                              else Outcome.RESOLVED).value
        if row["model"]:
            d["b_model"] = row["model"]
    return list(deltas.values())


def _conversation_update() -> Any:
    table = _CONVERSATIONS
    c = table.c
    sequence = bindparam("b_sequence", type_=BigInteger())
    later = sequence > c.last_sequence
    deciding = bindparam("b_outcome_sequence", type_=BigInteger())
    later_message = deciding > c.outcome_sequence
    handed_off = or_(c.handed_off, bindparam("b_handed_off", type_=Boolean()))
    first = bindparam("b_first", type_=UtcDateTime())
    last = bindparam("b_last", type_=UtcDateTime())
    model = bindparam("b_model", type_=String())
    return update(table).where(c.id == bindparam("b_id", type_=String())).values(
        user_messages=c.user_messages + bindparam("b_user", type_=Integer()),
        bot_messages=c.bot_messages + bindparam("b_bot", type_=Integer()),
        agent_messages=c.agent_messages + bindparam("b_agent", type_=Integer()),
        fallbacks=c.fallbacks + bindparam("b_fallbacks", type_=Integer()),
        handed_off=handed_off,
        outcome=case((handed_off, Outcome.HANDED_OFF.value),
                     (later_message, bindparam("b_outcome", type_=String())),
                     else_=c.outcome),
        last_sequence=case((later, sequence), else_=c.last_sequence),
        outcome_sequence=case((later_message, deciding), else_=c.outcome_sequence),
        first_at=case((first < c.first_at, first), else_=c.first_at),
        last_at=case((last > c.last_at, last), else_=c.last_at),
        model=case((and_(later, model != ""), model), else_=c.model))


_CONVERSATION_UPDATE = _conversation_update()


def _cleaned(value: Any) -> Any:
    """``value`` without what PostgreSQL's JSONB refuses: NUL characters, NaN, infinities
    (Python's ``json`` writes and reads those; null instead)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


def _text(value: Any, length: int | None = None) -> str:
    if value is None:
        return ""
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "")
    return text[:length] if length is not None else text


def _optional_text(value: Any, length: int | None = None) -> str | None:
    return None if value is None else _text(value, length)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _whole(value: Any, limit: int = 2**63 - 1) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not -limit <= value <= limit:
        return None
    return value


def _stage(event: Mapping[str, Any]) -> int:
    if event.get("reason"):  # an understood turn that did not serve: not a misunderstanding
        return 0
    stage = event.get("stage", 1)
    return stage if isinstance(stage, int) and not isinstance(stage, bool) else 0


def _time(value: Any, default: datetime | None = None) -> datetime:
    number = _number(value)
    if number is None or not 0 < number < 32_503_680_000:  # before the year 3000
        return default or datetime.fromtimestamp(0, UTC)
    return datetime.fromtimestamp(number, UTC)
