"""The desk's tables, declared once (SQLAlchemy 2 declarative). Every change to them is an
Alembic revision in ``desk/migrations/versions/`` with a downgrade; the code that reads and
writes them lives in one module per group: ``desk.accounts`` (users, teams, user_teams,
api_tokens), ``desk.records`` (handoffs, handoff_messages, notes), ``desk.audit`` (audit_log).

The same schema runs on PostgreSQL and SQLite, so the types are the portable ones: roles and
statuses are strings with a CHECK constraint (a new value is a plain migration, not an
``ALTER TYPE``), times are :class:`UtcDateTime` (timezone-aware in and out on both), JSON is
JSONB on PostgreSQL. Constraint names follow one convention, which batch migrations on
SQLite (``render_as_batch``) need to find them again.

Every column that holds what a person wrote or what the bot keeps about them is
:class:`~desk.encrypted_columns.EncryptedText` or ``EncryptedJSON`` (README "Encryption at
rest"): message texts and payloads, the whole turn record (slot values, entities,
attachments' URLs), replies and their buttons, notes, comments, handoff reasons and
requests, review labels, audit details. Identifiers (conversation, user and message ids),
staff accounts and the bot's own vocabulary (intents, forms, slot names, channels) stay
plain: queries join, group and filter on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from desk.analytics_forms import form_events
from desk.encrypted_columns import EncryptedJSON, EncryptedText

__all__ = ["ApiTokenRow", "ArchivedMessageRow", "AuditEntryRow", "AuthorKind", "Base",
           "ConversationRow", "FeedbackRow", "HandoffMessageRow", "HandoffRow", "HandoffStatus",
           "NoteRow", "Outcome", "ReviewLabelRow", "Role", "TeamRow", "TurnRow", "UserRow",
           "UserTeamRow", "UtcDateTime", "utcnow"]

# Lengths: ids are uuid4 hex (32); emails at most 254 (RFC 5321 path limit); conversation
# ids are "{channel}:{account}:{chat}" with Slack threads in them; message ids are the
# platform's dedupe keys (Slack event ids, Twilio SIDs, agent message ids).
ID = 32
EMAIL = 254
TEAM = 64
CONVERSATION = 512
MESSAGE_ID = 255
PLATFORM_USER = 255


class Role(StrEnum):
    """An account's role. Each includes the rights of the one before it: an agent works
    their teams' queues; a supervisor sees every queue and reassigns; an admin also manages
    users and teams."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class HandoffStatus(StrEnum):
    """A handoff's status as the Redis handoff record spells it (the desk contract);
    ``offline`` is a ticket left when nobody was online or outside business hours."""

    WAITING = "waiting"
    OFFLINE = "offline"
    ACTIVE = "active"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    TIMED_OUT = "timed_out"


class Outcome(StrEnum):
    """How a conversation went, as of its last archived user message (README "Analytics"):
    ``handed_off`` once any turn asked for a person; otherwise ``abandoned`` while the turn
    of the person's last message left them in a fallback or an unfinished form, else
    ``resolved`` (contained by the bot). Ratings and desk entries after it change nothing."""

    RESOLVED = "resolved"
    HANDED_OFF = "handed_off"
    ABANDONED = "abandoned"


class AuthorKind(StrEnum):
    USER = "user"
    AGENT = "agent"
    BOT = "bot"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime on every backend. PostgreSQL stores ``timestamptz``;
    SQLite has no time zones, so the value is stored as naive UTC (its fixed-width text
    still sorts by time) and given back its UTC zone when read. A naive datetime is refused
    on the way in: it would be stored as if it were UTC, whatever it meant."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_PLAIN_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# SQLite's autoincrement needs the column to be exactly INTEGER PRIMARY KEY.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def _check_in(column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (_check_in("role", Role),)

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL), unique=True)  # stored lowercased
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamRow(Base):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(TEAM), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserTeamRow(Base):
    __tablename__ = "user_teams"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team: Mapped[str] = mapped_column(
        ForeignKey("teams.name", ondelete="CASCADE"), primary_key=True, index=True)


class ApiTokenRow(Base):
    """An API token, kept only as the SHA-256 of the token: a leaked table lets nobody in,
    and a token has enough entropy that a fast hash is the right one (no salt, no argon2)."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class HandoffRow(Base):
    """A handoff as last written from its Redis record; ``epoch`` is the ownership epoch of
    that write, so that an older copy arriving late does not undo a newer one."""

    __tablename__ = "handoffs"
    __table_args__ = (
        _check_in("status", HandoffStatus),
        Index("ix_handoffs_status_team_requested_at", "status", "team", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(CONVERSATION), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(PLATFORM_USER))
    team: Mapped[str] = mapped_column(String(TEAM))
    reason: Mapped[str] = mapped_column(EncryptedText, default="")
    status: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    requested_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    first_reply_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    sla_deadline: Mapped[datetime | None]
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    request: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)


class HandoffMessageRow(Base):
    """One message of a handoff's conversation; the id is the message's own (its dedupe
    key), so storing a redelivered message again changes nothing."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        _check_in("author_kind", AuthorKind),
        Index("ix_handoff_messages_handoff_id_at", "handoff_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(MESSAGE_ID), primary_key=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(String(CONVERSATION), index=True)
    author_kind: Mapped[str] = mapped_column(String(8))
    author_id: Mapped[str | None] = mapped_column(String(PLATFORM_USER))
    text: Mapped[str] = mapped_column(EncryptedText)
    at: Mapped[datetime]


class NoteRow(Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_handoff_id_at", "handoff_id", "at"),)

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(String(CONVERSATION))
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(EncryptedText)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntryRow(Base):
    """Who did what, when, to which conversation. No foreign keys: the log outlives the
    accounts and handoffs it names, which is why it also keeps the actor's email."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(ID), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(EMAIL))
    action: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(CONVERSATION), index=True)
    handoff_id: Mapped[str | None] = mapped_column(String(ID))
    # what a person typed can be in it (the email a failed login gave): encrypted
    detail: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))  # an IPv6 address in text at most


class ConversationRow(Base):
    """A conversation's archive summary, updated by each archived turn (exactly once per
    turn: ``desk.archive_store`` updates it only for turns it inserted)."""

    __tablename__ = "conversations"
    __table_args__ = (
        _check_in("outcome", Outcome),
        Index("ix_conversations_first_at_channel", "first_at", "channel"),
    )

    id: Mapped[str] = mapped_column(String(CONVERSATION), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(PLATFORM_USER), index=True)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    user_messages: Mapped[int] = mapped_column(Integer, default=0)
    bot_messages: Mapped[int] = mapped_column(Integer, default=0)
    agent_messages: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(16), default=Outcome.RESOLVED.value)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    # the person's message whose turn decided ``outcome`` (ratings and desk entries don't)
    outcome_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    model: Mapped[str] = mapped_column(String(64), default="")  # of the last parsed turn


class TurnRow(Base):
    """One archived turn: the person's message (or the desk's entry) and what the bot made
    of it. ``(conversation_id, sequence)`` is the turn record's identity, so storing a
    record again changes nothing. ``user_message``: the turn is a message a person sent
    (not a conversation start, a desk entry or feedback); ``fallback``: the turn reached a
    fallback stage (1 did-you-mean, 2 rephrase, 3 handoff); ``record``: the whole turn
    record as the worker wrote it (``workers.turn_record``)."""

    __tablename__ = "turns"
    __table_args__ = (
        Index("ix_turns_at_channel", "at", "channel"),
        Index("ix_turns_intent_at", "intent", "at"),
    )

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    user_message: Mapped[bool] = mapped_column(Boolean, default=False)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID), default="")
    at: Mapped[datetime]  # received by the gateway
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    payload: Mapped[str | None] = mapped_column(EncryptedText)  # entities' values in it
    intent: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None]
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_reason: Mapped[str | None] = mapped_column(String(64))
    out_of_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    active_form: Mapped[str | None] = mapped_column(String(128))
    requested_slot: Mapped[str | None] = mapped_column(String(128))
    latency_ms: Mapped[float | None]
    model: Mapped[str] = mapped_column(String(64), default="")
    record: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    # The record's form events without their values, for the form funnel (the record
    # itself is encrypted): derived from ``record`` when not given.
    form_events: Mapped[list[Any] | None] = mapped_column(_PLAIN_JSON, default=lambda ctx: (
        form_events(ctx.get_current_parameters().get("record"))))


class ArchivedMessageRow(Base):
    """A message the bot or an agent sent in a turn (``position``: its index among the
    turn's replies); the person's own message is the turn's ``text``."""

    __tablename__ = "messages"
    __table_args__ = (
        _check_in("author_kind", AuthorKind),
        Index("ix_messages_at", "at"),
    )

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_kind: Mapped[str] = mapped_column(String(8))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    buttons: Mapped[list[Any]] = mapped_column(EncryptedJSON, default=list)  # payloads
    at: Mapped[datetime]


class FeedbackRow(Base):
    """A person's rating: ``kind`` ``thumbs`` (``value`` 1 up, 0 down) about one bot reply,
    or ``csat`` (``value`` 1–5) about a handoff or the conversation. Keyed by the turn that
    carried it, so a redelivered rating is stored once; ``about_sequence``/``about_position``
    name the reply it is about (none for a conversation's CSAT)."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("kind IN ('thumbs', 'csat')", name="kind"),
        Index("ix_feedback_at_kind", "at", "kind"),
    )

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(EncryptedText, default="")
    about_sequence: Mapped[int | None] = mapped_column(BigInteger)
    about_position: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]


class ReviewLabelRow(Base):
    """A reviewer's verdict on one archived user message: ``correct`` (the bot was right),
    or the right ``intent`` (existing or new) with the ``entities`` marked in ``text``."""

    __tablename__ = "review_labels"
    __table_args__ = (
        CheckConstraint("verdict IN ('correct', 'relabel')", name="verdict"),
        Index("ix_review_labels_at", "at"),
    )

    conversation_id: Mapped[str] = mapped_column(String(CONVERSATION), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    verdict: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(EncryptedText)
    intent: Mapped[str] = mapped_column(String(128))
    entities: Mapped[list[Any]] = mapped_column(EncryptedJSON, default=list)
    reviewer_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
