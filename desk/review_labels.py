"""Review labels (table ``review_labels``): a reviewer's verdict on one archived user message.

``correct``: the bot's parse was right (the label's intent is the parsed one; the entities
are the reviewer's, or the parse's spans when none are given). ``relabel``: the right intent,
one the bot has or a new one, with the entities marked in the message's text. A second
label of the same turn replaces the first; every label and removal is written to the audit
log. Names are checked as Rasa's training data reads them (``brain.nlu.annotations``), and
spans against the message's text, so that what is stored can be exported as training data.

    RecordError (desk.errors)
    └── ReviewError              a label cannot be stored as asked                  (→ 400)
        └── UnknownTurnError     no archived user message has this id               (→ 404)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from desk import audit
from desk.accounts import User
from desk.database import Database
from desk.errors import RecordError
from desk.schema import ReviewLabelRow, TurnRow, utcnow

__all__ = ["MAX_ENTITIES", "RESERVED_INTENTS", "VERDICTS", "ReviewError", "ReviewLabel",
           "UnknownTurnError", "check_entities", "check_intent_name", "get_label", "label",
           "labelled_intents", "unlabel"]

VERDICTS = ("correct", "relabel")
MAX_ENTITIES = 50
_NAME_LENGTH = 128   # turns.intent / review_labels.intent
_ENTITY_LENGTH = 64
_VALUE_LENGTH = 500
# Rasa's own intent and entity names: letters, digits, _ - . and no leading digit or sign.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")
# Rasa's default intents: the framework sends them, so no example may train one.
RESERVED_INTENTS = frozenset({"nlu_fallback", "session_start", "restart", "back"})
_ENTITY_KEYS = {"start", "end", "entity", "value"}


class ReviewError(RecordError):
    pass


class UnknownTurnError(ReviewError):
    pass


@dataclass(frozen=True, slots=True)
class ReviewLabel:
    conversation_id: str
    sequence: int
    verdict: str
    text: str
    intent: str
    entities: tuple[Mapping[str, Any], ...]
    reviewer_id: str | None
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "sequence": self.sequence,
                "verdict": self.verdict, "text": self.text, "intent": self.intent,
                "entities": [dict(e) for e in self.entities], "reviewer_id": self.reviewer_id,
                "at": self.at.timestamp()}


def check_intent_name(name: str) -> str:
    """``name`` if it can be an intent of a Rasa bot, else a :class:`ReviewError`."""
    if not isinstance(name, str) or not name or len(name) > _NAME_LENGTH \
            or not _NAME.fullmatch(name):
        raise ReviewError(f"intent {str(name)[:60]!r} is not a valid name: 1 to {_NAME_LENGTH} "
                          "letters, digits, '_', '-' or '.', not starting with a digit")
    if name in RESERVED_INTENTS:
        raise ReviewError(f"intent {name!r} is one of Rasa's default intents and cannot be "
                          "trained")
    return name


def check_entities(text: str, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entity spans, checked against ``text`` and sorted: each ``{start, end, entity,
    value?}`` lies within the text, holds no leading or trailing space, overlaps no other,
    and names an entity as Rasa spells them."""
    if len(entities) > MAX_ENTITIES:
        raise ReviewError(f"at most {MAX_ENTITIES} entities on one message")
    spans = [_span(text, index, entity) for index, entity in enumerate(entities)]
    spans.sort(key=lambda s: (s["start"], s["end"]))
    for before, after in itertools.pairwise(spans):
        if after["start"] < before["end"]:
            raise ReviewError(f"entities overlap: {before['entity']!r} at {before['start']}–"
                              f"{before['end']} and {after['entity']!r} at {after['start']}–"
                              f"{after['end']}")
    return spans


def _span(text: str, index: int, entity: Mapping[str, Any]) -> dict[str, Any]:
    where = f"entity #{index + 1}"
    if not isinstance(entity, Mapping) or set(entity) - _ENTITY_KEYS:
        raise ReviewError(f"{where}: an object with start, end, entity and optionally value")
    start, end, name = entity.get("start"), entity.get("end"), entity.get("entity")
    if type(start) is not int or type(end) is not int or not 0 <= start < end <= len(text):
        raise ReviewError(f"{where}: start and end must be whole numbers with 0 <= start < "
                          f"end <= {len(text)} (the message's length), not {start!r}, {end!r}")
    piece = text[start:end]
    if piece != piece.strip():
        raise ReviewError(f"{where}: the span {piece!r} starts or ends with a space")
    if not isinstance(name, str) or len(name) > _ENTITY_LENGTH or not _NAME.fullmatch(name):
        raise ReviewError(f"{where}: entity name {str(name)[:60]!r} is not valid: 1 to "
                          f"{_ENTITY_LENGTH} letters, digits, '_', '-' or '.'")
    span: dict[str, Any] = {"start": start, "end": end, "entity": name}
    value = entity.get("value")
    if value is not None:
        if not isinstance(value, str) or not value.strip() or len(value) > _VALUE_LENGTH:
            raise ReviewError(f"{where}: value must be a non-empty text of at most "
                              f"{_VALUE_LENGTH} characters")
        if value != piece:
            span["value"] = value
    return span


async def label(db: Database, *, conversation_id: str, sequence: int, verdict: str,
                intent: str | None, entities: Sequence[Mapping[str, Any]] | None,
                reviewer: User, ip: str | None = None) -> ReviewLabel:
    """Store ``reviewer``'s label of the user message ``(conversation_id, sequence)``,
    replacing any earlier one, and audit it (``review.labelled``)."""
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict is one of {', '.join(VERDICTS)}, not {str(verdict)[:40]!r}")
    turn = await _user_turn(db, conversation_id, sequence)
    if verdict == "correct":
        if turn.intent is None:
            raise ReviewError("the bot recognised no intent in this message: relabel it")
        if intent is not None and intent != turn.intent:
            raise ReviewError(f"'correct' keeps the parsed intent {turn.intent!r}; to say it "
                              f"is {intent[:60]!r}, relabel")
        intent = turn.intent
        if entities is None:
            entities = _parsed_spans(turn)
    elif intent is None:
        raise ReviewError("a relabel names the right intent")
    spans = check_entities(turn.text, entities or [])
    row = {"conversation_id": conversation_id, "sequence": sequence, "verdict": verdict,
           "text": turn.text, "intent": check_intent_name(intent), "entities": spans,
           "reviewer_id": reviewer.id, "at": utcnow()}
    async with db.sessions.begin() as session:
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        statement = insert(ReviewLabelRow).values(row)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["conversation_id", "sequence"],
            set_={k: statement.excluded[k] for k in row if k not in ("conversation_id",
                                                                      "sequence")}))
    await audit.record(db, actor=reviewer, action="review.labelled",
                       conversation_id=conversation_id, ip=ip,
                       detail={"sequence": sequence, "verdict": verdict, "intent": intent,
                               "entities": [s["entity"] for s in spans]})
    return _label(ReviewLabelRow(**row))


async def unlabel(db: Database, *, conversation_id: str, sequence: int, reviewer: User,
                  ip: str | None = None) -> bool:
    """Remove the label of one message (``False``: it had none); audited
    (``review.unlabelled``) when there was one."""
    async with db.sessions.begin() as session:
        result = await session.execute(delete(ReviewLabelRow).where(
            ReviewLabelRow.conversation_id == conversation_id,
            ReviewLabelRow.sequence == sequence))
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        await audit.record(db, actor=reviewer, action="review.unlabelled",
                           conversation_id=conversation_id, ip=ip,
                           detail={"sequence": sequence})
    return removed


async def labelled_intents(db: Database) -> list[str]:
    """Every intent a label names (the picker offers the new ones a reviewer made)."""
    async with db.reads() as session:
        return sorted(await session.scalars(select(ReviewLabelRow.intent).distinct()))


async def get_label(db: Database, conversation_id: str, sequence: int) -> ReviewLabel | None:
    async with db.reads() as session:
        row = await session.get(ReviewLabelRow, (conversation_id, sequence))
    return _label(row) if row is not None else None


async def _user_turn(db: Database, conversation_id: str, sequence: int) -> TurnRow:
    async with db.reads() as session:
        turn = await session.scalar(select(TurnRow).where(
            TurnRow.conversation_id == conversation_id, TurnRow.sequence == sequence))
    if turn is None or not turn.user_message:
        raise UnknownTurnError(f"no archived user message {sequence} in conversation "
                               f"{conversation_id[:100]!r}")
    if turn.payload is not None or not turn.text.strip():
        raise ReviewError("this message is a button press (its payload named the intent), "
                          "not text the NLU read: there is nothing to label")
    return turn


def _parsed_spans(turn: TurnRow) -> list[dict[str, Any]]:
    """The parse's entity spans (positions and names; the values it normalised — dates,
    amounts — are the extractor's output, not a training annotation)."""
    parse = turn.record.get("parse") or {}
    found = []
    for entity in parse.get("entities") or []:
        start, end, name = entity.get("start"), entity.get("end"), entity.get("entity")
        if type(start) is int and type(end) is int and isinstance(name, str):
            found.append({"start": start, "end": end, "entity": name})
    return found


def _label(row: ReviewLabelRow) -> ReviewLabel:
    return ReviewLabel(conversation_id=row.conversation_id, sequence=row.sequence,
                       verdict=row.verdict, text=row.text, intent=row.intent,
                       entities=tuple(row.entities or ()), reviewer_id=row.reviewer_id,
                       at=row.at)
