"""The event model every channel converts to and from; the core sees nothing else.

Wire models are frozen msgspec structs: they round-trip through JSON (Redis, Celery), keep
the platform's raw payload read-only, and never hold clients or callbacks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = ["COMMENT_LIMIT", "Attachment", "Button", "InboundMessage", "InvalidRating",
           "OutboundMessage", "Rating", "decode_inbound", "decode_outbound", "rating_from"]

COMMENT_LIMIT = 500  # characters of a rating's comment


class Button(msgspec.Struct, frozen=True):
    title: str
    payload: str


class Attachment(msgspec.Struct, frozen=True):
    """A file the person sent (image, audio, document), as the platform's URL to fetch it."""

    url: str
    content_type: str = ""


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A person's message as a channel received it.

    ``message_id`` is the platform's own id (the dedupe key); ``sequence`` is the
    conversation's ordinal, given by the gateway when it accepts the message. ``kind`` is
    ``"message"`` for what a person sent, ``"conversation_start"`` for the event a channel
    enqueues when a conversation opens before the person writes (the browser chat does,
    for a new session): no NLU runs on it, and the bot may greet first. ``"feedback"`` is
    a person's rating of a bot reply (thumbs, or a 1–5 satisfaction answer; ``control``:
    ``workers.feedback``): recorded with the reply it is about, never parsed as a message.
    """

    channel: str
    account: str
    chat: str
    user_id: str
    message_id: str
    text: str = ""
    payload: str | None = None  # a pressed button's payload, instead of text
    attachments: tuple[Attachment, ...] = ()
    sequence: int = 0
    received_at: float = 0.0
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    kind: Literal["message", "conversation_start", "agent_message", "handoff_end",
                  "handoff_resume", "feedback"] = "message"
    control: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}:{self.account}:{self.chat}"


class OutboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One bot message for one conversation; ``index`` orders the replies to one inbound.

    ``template`` names a platform-approved message template to send instead of ``text``
    (a WhatsApp ``ContentSid``): how a business may write outside the 24-hour window.

    ``author`` is ``"bot"`` or ``"agent"`` (a person at the desk, named by ``agent_name``);
    ``epoch`` is the conversation's ownership epoch the message was decided under: a
    bot message older than the epoch at which a person took the conversation is dropped
    at send time (``gateway.delivery``), so a bot reply racing a claim never arrives.
    """

    conversation_id: str
    channel: str
    in_reply_to: str
    sequence: int
    index: int
    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    template: str | None = None
    author: Literal["bot", "agent"] = "bot"
    agent_name: str = ""
    epoch: int = 0


class InvalidRating(ValueError):
    """A rating (``Rating``) that is malformed or out of range; the text says which field."""


class Rating(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A person's rating of the bot: the ``control`` of an ``InboundMessage`` of kind
    ``"feedback"``, as plain data (``to_control``), the same from every channel.

    ``kind`` ``"thumbs"`` (``value`` 1 up, 0 down) is about one bot reply, named by
    ``about_sequence`` (the inbox sequence of the turn that sent it) and ``about_position``
    (its ``OutboundMessage.index``); ``"csat"`` (``value`` 1–5) is about a handoff or the
    conversation, and may name the turn that asked. ``comment`` is optional free text.
    """

    kind: Literal["thumbs", "csat"]
    value: int
    comment: Annotated[str, msgspec.Meta(max_length=COMMENT_LIMIT)] = ""
    about_sequence: Annotated[int, msgspec.Meta(ge=1, le=2**53)] | None = None
    about_position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None

    def to_control(self) -> dict[str, Any]:
        """``{"kind", "value", "comment", "about_sequence", "about_position"}``."""
        return {"kind": self.kind, "value": self.value, "comment": self.comment,
                "about_sequence": self.about_sequence, "about_position": self.about_position}


_WHOLE = frozenset({"value", "about_sequence", "about_position"})


def rating_from(data: Any) -> Rating:
    """``data`` (decoded JSON: a dict) as a checked ``Rating``; ``InvalidRating`` naming
    what is wrong otherwise. Thumbs take 0 or 1 and name the reply; CSAT takes 1 to 5."""
    if isinstance(data, dict):  # JSON has one kind of number: 1.0 is the whole number 1
        data = {key: int(value) if key in _WHOLE and isinstance(value, float)
                and value.is_integer() and abs(value) <= 2**53 else value
                for key, value in data.items()}
    try:
        rating = msgspec.convert(data, Rating)
    except msgspec.ValidationError as exc:
        raise InvalidRating(f"invalid feedback: {exc}") from exc
    if rating.kind == "thumbs":
        if rating.value not in (0, 1):
            raise InvalidRating("invalid feedback: a thumbs 'value' is 1 (up) or 0 (down)")
        if rating.about_sequence is None or rating.about_position is None:
            raise InvalidRating("invalid feedback: a thumbs rating names the reply it is "
                                "about ('about_sequence' and 'about_position')")
    elif not 1 <= rating.value <= 5:
        raise InvalidRating("invalid feedback: a csat 'value' is 1 to 5")
    if rating.about_position is not None and rating.about_sequence is None:
        # a position in no turn names nothing (a csat's): kept as the conversation's
        rating = msgspec.structs.replace(rating, about_position=None)
    return rating


_inbound = msgspec.json.Decoder(InboundMessage)
_outbound = msgspec.json.Decoder(OutboundMessage)


def decode_inbound(data: bytes | str) -> InboundMessage:
    return _inbound.decode(data)


def decode_outbound(data: bytes | str) -> OutboundMessage:
    return _outbound.decode(data)
