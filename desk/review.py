"""The review queue: the archived user messages worth a look, worst first.

A user message (``turns.user_message``, typed text — a button press names its intent
itself) is listed when at least one reason applies; each reason adds its weight to the
item's score:

=================  ======  ===============================================================
reason             weight  when
=================  ======  ===============================================================
``thumbs_down``    5       a thumbs down about one of the turn's replies
                           (``feedback.about_sequence`` = the turn's sequence)
``handoff``        4       this turn, or the person's next message, asked for a person
``fallback``       3       the turn reached a fallback stage (``turns.fallback``)
``rephrased``      3       the person typed again within :data:`REPHRASE_SECONDS` after
                           this message fell back or had a low confidence
``low_confidence`` 2       the parsed intent's confidence is below ``min_confidence``
                           (default :data:`DEFAULT_MIN_CONFIDENCE`)
``out_of_scope``   2       the parsed intent is ``out_of_scope``
=================  ======  ===============================================================

Order: unlabelled before labelled (``status=all``), then score (highest first), then
confidence (lowest first), then time (newest first).

The database filters, scores, orders and pages in one statement: the range's user messages
(``ix_turns_at_channel``) with the person's next message beside each (a window function
over the conversation, one sorted pass; the next message is looked for up to
:data:`LOOKAHEAD` past ``end``), thumbs down since ``start`` and the labels hash-joined.
Python builds only the page's items and their context (the previous and next user
messages and every bot and agent message in between).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from desk.database import Database
from desk.review_labels import (
    ReviewError,
    ReviewLabel,
    UnknownTurnError,
    check_entities,
    check_intent_name,
    get_label,
    label,
    labelled_intents,
    unlabel,
)
from desk.schema import ArchivedMessageRow, FeedbackRow, ReviewLabelRow, TurnRow

__all__ = ["DEFAULT_MIN_CONFIDENCE", "MAX_PAGE", "REASON_WEIGHTS", "REPHRASE_SECONDS",
           "STATUSES", "ReviewError", "ReviewItem", "ReviewLabel", "UnknownTurnError",
           "check_entities", "check_intent_name", "get_label", "label", "labelled_intents",
           "review_queue", "unlabel"]

DEFAULT_MIN_CONFIDENCE = 0.6
REPHRASE_SECONDS = 120
LOOKAHEAD = timedelta(days=1)  # how far past ``end`` the person's next message is looked for
MAX_PAGE = 200
STATUSES = ("open", "labelled", "all")
REASON_WEIGHTS = {"thumbs_down": 5, "handoff": 4, "fallback": 3, "rephrased": 3,
                  "low_confidence": 2, "out_of_scope": 2}
_CONTEXT_MESSAGES = 30  # bot/agent messages shown around one item at most
_TAIL = 20              # sequences after the item looked at when the person wrote no more


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One message of the queue, with why it is there and what was said around it."""

    conversation_id: str
    sequence: int
    channel: str
    at: datetime
    text: str
    intent: str | None
    confidence: float | None
    ranking: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    fallback_reason: str | None
    reasons: list[str]
    score: int
    label: ReviewLabel | None
    context: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "sequence": self.sequence,
                "channel": self.channel, "at": self.at.timestamp(), "text": self.text,
                "intent": self.intent, "confidence": self.confidence, "ranking": self.ranking,
                "entities": self.entities, "fallback_reason": self.fallback_reason,
                "reasons": self.reasons, "score": self.score,
                "label": self.label.as_json() if self.label is not None else None,
                "context": self.context}


async def review_queue(db: Database, *, limit: int = 50, offset: int = 0,
                       channel: str | None = None, start: datetime | None = None,
                       end: datetime | None = None, status: str = "open",
                       min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[ReviewItem]:
    """A page of the queue (module doc): messages received in ``[start, end)`` on
    ``channel`` (all when None); ``status`` ``open`` (not labelled yet), ``labelled`` or
    ``all`` (open ones first)."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ReviewError(f"limit is 1 to {MAX_PAGE} and offset at least 0")
    if status not in STATUSES:
        raise ReviewError(f"status is one of {', '.join(STATUSES)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ReviewError("min_confidence is between 0 and 1")
    query = _queue_query(db.dialect, channel=channel, start=start, end=end, status=status,
                         min_confidence=min_confidence)
    async with db.reads() as session:
        found = (await session.execute(query.limit(limit).offset(offset))).all()
        return await _page(session, found) if found else []


async def _page(session: AsyncSession, found: Sequence[Any]) -> list[ReviewItem]:
    """The page's items: their turns, labels, neighbours and the replies around them."""
    keys = [(r.conversation_id, r.sequence) for r in found]
    previous = await _previous(session, keys)
    rows = [_Row(r, previous.get((r.conversation_id, r.sequence))) for r in found]
    near = [(r.conversation_id, s) for r in rows
            for s in (r.prev_sequence, r.next_sequence) if s is not None]
    turns = {(t.conversation_id, t.sequence): t for t in await session.scalars(
        select(TurnRow).where(tuple_(TurnRow.conversation_id, TurnRow.sequence).in_(
            keys + near)))}
    labels = {(lb.conversation_id, lb.sequence): lb for lb in await session.scalars(
        select(ReviewLabelRow).where(tuple_(ReviewLabelRow.conversation_id,
                                            ReviewLabelRow.sequence).in_(keys)))}
    spans = [(r.conversation_id, r.prev_sequence if r.prev_sequence is not None
              else r.sequence, r.next_sequence if r.next_sequence is not None
              else r.sequence + _TAIL) for r in rows]
    messages = list(await session.scalars(select(ArchivedMessageRow).where(or_(*(
        and_(ArchivedMessageRow.conversation_id == cid,
             ArchivedMessageRow.sequence.between(lo, hi)) for cid, lo, hi in spans)))
        .order_by(ArchivedMessageRow.sequence, ArchivedMessageRow.position)))
    return [_item(row, turns, labels, messages, span)
            for row, span in zip(rows, spans, strict=True)]


def _queue_query(dialect: str, *, channel: str | None, start: datetime | None,
                 end: datetime | None, status: str, min_confidence: float) -> Any:
    """One statement: the range's user messages with their next one (a window, so one
    sorted pass rather than a look-up per message), scored, open ones first, ordered."""
    t = aliased(TurnRow, name="t")
    window: list[ColumnElement[bool]] = [t.user_message == true()]
    if channel is not None:
        window.append(t.channel == channel)
    if start is not None:
        window.append(t.at >= start)
    if end is not None:  # the next message may come after the range; a day is looked at
        window.append(t.at < end + LOOKAHEAD)

    def following(column: Any, name: str) -> Any:
        return func.lead(column).over(partition_by=t.conversation_id,
                                      order_by=t.sequence).label(name)

    base = select(
        t.conversation_id, t.sequence, t.at, t.confidence, t.fallback, t.out_of_scope,
        t.handoff_requested, t.payload, t.text, following(t.sequence, "next_sequence"),
        following(t.at, "next_at"), following(t.handoff_requested, "next_handoff"),
        following(t.payload, "next_payload"),
    ).where(*window).subquery("base")
    # Thumbs down come after the turn they are about: those since ``start`` are enough.
    unhappy = select(FeedbackRow.conversation_id, FeedbackRow.about_sequence).where(
        FeedbackRow.kind == "thumbs", FeedbackRow.value == 0,
        FeedbackRow.about_sequence.is_not(None),
        *([FeedbackRow.at >= start] if start is not None else [])).distinct().subquery("unhappy")
    low = and_(base.c.confidence.is_not(None), base.c.confidence < min_confidence)
    flags: dict[str, ColumnElement[bool]] = {
        "thumbs_down": unhappy.c.about_sequence.is_not(None),
        "handoff": or_(base.c.handoff_requested == true(),
                       func.coalesce(base.c.next_handoff, false()) == true()),
        "fallback": base.c.fallback == true(),
        "rephrased": and_(base.c.next_sequence.is_not(None), base.c.next_payload.is_(None),
                          or_(base.c.fallback == true(), low),
                          _within(dialect, base.c.next_at, base.c.at, REPHRASE_SECONDS)),
        "low_confidence": low,
        "out_of_scope": base.c.out_of_scope == true(),
    }
    score = sum((case((flag, REASON_WEIGHTS[name]), else_=0) for name, flag in flags.items()),
                start=literal(0))
    shown = [base.c.payload.is_(None), base.c.text != ""]
    if end is not None:
        shown.append(base.c.at < end)
    scored = select(
        base.c.conversation_id, base.c.sequence, base.c.at, base.c.confidence,
        base.c.next_sequence,
        *(case((flag, 1), else_=0).label(name) for name, flag in flags.items()),
        score.label("score"),
        case((ReviewLabelRow.sequence.is_(None), 0), else_=1).label("labelled"),
    ).select_from(base).outerjoin(unhappy, and_(
        unhappy.c.conversation_id == base.c.conversation_id,
        unhappy.c.about_sequence == base.c.sequence)).outerjoin(ReviewLabelRow, and_(
            ReviewLabelRow.conversation_id == base.c.conversation_id,
            ReviewLabelRow.sequence == base.c.sequence)).where(*shown).subquery("scored")
    query = select(scored).where(scored.c.score > 0)
    if status != "all":
        query = query.where(scored.c.labelled == (1 if status == "labelled" else 0))
    return query.order_by(scored.c.labelled, scored.c.score.desc(),
                          func.coalesce(scored.c.confidence, 1.0), scored.c.at.desc(),
                          scored.c.conversation_id, scored.c.sequence)


async def _previous(session: AsyncSession, keys: Sequence[tuple[str, int]]
                    ) -> dict[tuple[str, int], int]:
    """The person's message before each of the page's messages (for the context)."""
    later = aliased(TurnRow, name="later")
    wanted = select(TurnRow.conversation_id, TurnRow.sequence, select(
        func.max(later.sequence)).where(
        later.conversation_id == TurnRow.conversation_id, later.sequence < TurnRow.sequence,
        later.user_message == true()).scalar_subquery()).where(
        tuple_(TurnRow.conversation_id, TurnRow.sequence).in_(keys))
    return {(cid, seq): prev for cid, seq, prev in await session.execute(wanted)
            if prev is not None}


class _Row:
    """A row of the queue's statement with the previous message's sequence added."""

    def __init__(self, row: Any, prev_sequence: int | None) -> None:
        self._row, self.prev_sequence = row, prev_sequence

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def _within(dialect: str, later: Any, earlier: Any, seconds: int) -> ColumnElement[bool]:
    """``later`` is at most ``seconds`` after ``earlier``: SQLite keeps times as text, which
    ``julianday`` reads; PostgreSQL subtracts timestamps into an interval."""
    if dialect == "sqlite":
        gap = (func.julianday(later) - func.julianday(earlier)) * 86400.0
        return gap <= seconds
    gap_pg: ColumnElement[Any] = later - earlier
    return gap_pg <= timedelta(seconds=seconds)


def _item(row: Any, turns: dict[tuple[str, int], TurnRow],
          labels: dict[tuple[str, int], ReviewLabelRow], messages: Sequence[ArchivedMessageRow],
          span: tuple[str, int, int]) -> ReviewItem:
    key = (row.conversation_id, row.sequence)
    turn = turns[key]
    parse = turn.record.get("parse") or {}
    found = labels.get(key)
    return ReviewItem(
        conversation_id=turn.conversation_id, sequence=turn.sequence, channel=turn.channel,
        at=turn.at, text=turn.text, intent=turn.intent, confidence=turn.confidence,
        ranking=list(parse.get("intent_ranking") or [])[:5],
        entities=[_entity(e) for e in parse.get("entities") or [] if isinstance(e, dict)],
        fallback_reason=turn.fallback_reason,
        reasons=[name for name in REASON_WEIGHTS if getattr(row, name)],
        score=int(row.score),
        label=ReviewLabel(found.conversation_id, found.sequence, found.verdict, found.text,
                          found.intent, tuple(found.entities or ()), found.reviewer_id,
                          found.at) if found is not None else None,
        context=_context(row, turns, messages, span))


def _entity(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: entity.get(k) for k in ("start", "end", "entity", "value") if k in entity}


def _context(row: Any, turns: dict[tuple[str, int], TurnRow],
             messages: Sequence[ArchivedMessageRow], span: tuple[str, int, int]
             ) -> list[dict[str, Any]]:
    """The previous and next user messages, this one, and the bot's and agents' messages
    from the previous user message up to the next one, in order."""
    cid, lo, hi = span
    said: list[tuple[int, int, dict[str, Any]]] = []
    for sequence in (row.prev_sequence, row.sequence, row.next_sequence):
        turn = turns.get((cid, sequence)) if sequence is not None else None
        if turn is not None:
            said.append((sequence, -1, {"sequence": sequence, "author": "user", "name": "",
                                        "text": turn.text or turn.payload or "",
                                        "at": turn.at.timestamp(),
                                        "current": sequence == row.sequence}))
    replies = [m for m in messages if m.conversation_id == cid and lo <= m.sequence <= hi]
    for m in replies[:_CONTEXT_MESSAGES]:
        said.append((m.sequence, m.position, {"sequence": m.sequence, "author": m.author_kind,
                                              "name": m.author_name, "text": m.text,
                                              "at": m.at.timestamp(), "current": False}))
    return [entry for _, _, entry in sorted(said, key=lambda s: (s[0], s[1]))]
