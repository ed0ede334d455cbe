"""The browser chat protocol (``/widget.js`` ↔ gateway): frames in, frames out.

Client frames: ``hello`` (session token, last sequence seen), ``message`` (a client
message id, then ``text`` or a button's ``payload``) and ``feedback`` (a client id and a
``feedback`` rating of one bot reply: ``channels.models.Rating``). Server frames:
``welcome``, ``ack``, ``user`` (a message the person sent, from this tab or another),
``reply`` (a bot or agent message; ``turn`` and ``index`` name it for a rating), ``rated``
(a rating the person gave, from this tab or another), ``typing`` (published by the
workers, see ``workers.bus``) and ``error``. ``user``, ``reply`` and ``rated`` frames share
one numbering per conversation (``seq``, from 1) and stay in the outbox, so the
conversation can be redrawn after a reload, and resumed from the last ``seq`` seen. The
transports (WebSocket, long-poll) and the outbox live in the gateway; this module only
checks and builds frames, so both transports speak the same language.

A browser's conversation is ``webchat:browser:<session id>``; the dedupe key of its
messages is scoped to the session (``<session id>:<client id>``), so one browser cannot
shadow another's message ids. A rating's dedupe key is the reply it rates
(``<session id>:rating:<kind>:<turn>:<index>``): one rating per reply, whatever the
client id, so a resend or a second tab's rating of the same reply is stored once. The
conversation-start event of a new session has the bare session id as its message id,
which no client message can have.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from channels.errors import BadRequest
from channels.identifiers import is_valid_id, without_lone_surrogates
from channels.models import (
    InboundMessage,
    InvalidRating,
    OutboundMessage,
    Rating,
    rating_from,
)

__all__ = ["CHANNEL", "FeedbackFrame", "Hello", "MessageFrame", "conversation_of",
           "conversation_start", "decode_frame", "decode_hello", "decode_message",
           "decode_poll", "decode_send", "decode_session", "frame_sequence", "inbound",
           "inbound_rating", "rated_frame_parts", "reply_frame_parts", "user_frame_parts"]

CHANNEL = "webchat"
ACCOUNT = "browser"
MAX_TEXT = 4000
# A frame sequence on the wire: never negative, within what Redis scores and JSON numbers
# hold exactly, and a whole number (``7.0`` is one: JSON knows no int/float divide).
_SeqNumber = Annotated[float, msgspec.Meta(ge=0, le=2**53)]
_SEQ_MARKER = -987654321987654321  # where a frame's ``seq`` goes (an outbox script sets it)


class Hello(msgspec.Struct, frozen=True):
    token: str
    after: int = 0


class _HelloFrame(msgspec.Struct, tag="hello", forbid_unknown_fields=True):
    token: str
    after: _SeqNumber = 0


class MessageFrame(msgspec.Struct, tag="message", forbid_unknown_fields=True):
    id: str
    text: str | None = None
    payload: str | None = None
    title: str | None = None


class _FeedbackFrame(msgspec.Struct, tag="feedback", forbid_unknown_fields=True):
    id: str
    feedback: Any


class FeedbackFrame(msgspec.Struct, frozen=True):
    """A checked ``feedback`` frame: the client's id and the rating."""

    id: str
    rating: Rating


class _SendBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    id: str
    text: str | None = None
    payload: str | None = None
    title: str | None = None
    feedback: Any = None


class _SessionBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str | None = None


class _PollBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    after: _SeqNumber = 0


_hello = msgspec.json.Decoder(_HelloFrame)
_frame = msgspec.json.Decoder(MessageFrame)
_client_frame = msgspec.json.Decoder(MessageFrame | _FeedbackFrame)
_send = msgspec.json.Decoder(_SendBody)
_poll = msgspec.json.Decoder(_PollBody)
_session = msgspec.json.Decoder(_SessionBody)
_T = TypeVar("_T")


def _decoded(decoder: msgspec.json.Decoder[_T], raw: str | bytes, what: str) -> _T:
    """``raw`` decoded, or ``BadRequest`` naming ``what``: whatever the bytes, the
    decoders below answer a frame or ``BadRequest`` (and nothing else)."""
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise BadRequest(f"{what}: {exc}") from exc
    except RecursionError as exc:  # msgspec's nesting limit, even in a skipped value
        raise BadRequest(f"{what}: nested too deeply") from exc


def decode_hello(raw: str | bytes) -> Hello:
    frame = _decoded(_hello, raw, "the first frame must be a hello")
    return Hello(frame.token, _whole(frame.after, "the first frame must be a hello"))


def decode_message(raw: str | bytes) -> MessageFrame:
    return _checked(_decoded(_frame, raw, "invalid message frame"))


def decode_frame(raw: str | bytes) -> MessageFrame | FeedbackFrame:
    """A client frame after the hello: a message or a rating."""
    frame = _decoded(_client_frame, raw, "invalid frame")
    if isinstance(frame, _FeedbackFrame):
        return _checked_rating(frame.id, frame.feedback)
    return _checked(frame)


def decode_send(raw: bytes) -> tuple[str, MessageFrame | FeedbackFrame]:
    """The long-poll transport's ``POST /channels/web/send`` body: (token, message), the
    message being ``text``, ``payload`` or ``feedback`` (a rating)."""
    body = _decoded(_send, raw, "invalid message")
    if body.feedback is not None:
        if body.text is not None or body.payload is not None or body.title is not None:
            raise BadRequest("a rating has 'feedback' alone (no text, payload or title)")
        return body.token, _checked_rating(body.id, body.feedback)
    return body.token, _checked(MessageFrame(id=body.id, text=body.text,
                                             payload=body.payload, title=body.title))


def _checked_rating(frame_id: str, data: Any) -> FeedbackFrame:
    if not 1 <= len(frame_id) <= 100 or not is_valid_id(frame_id):
        raise BadRequest("'id' must be 1 to 100 printable ASCII characters without spaces")
    try:
        rating = rating_from(data)
    except InvalidRating as exc:
        raise BadRequest(str(exc)) from exc
    comment = without_lone_surrogates(rating.comment).strip()
    return FeedbackFrame(frame_id, msgspec.structs.replace(rating, comment=comment))


def decode_session(raw: bytes) -> str | None:
    """``POST /channels/web/session``'s body: the browser's current token, if any."""
    return _decoded(_session, raw or b"{}", "invalid session request").token


def decode_poll(raw: bytes) -> tuple[str, int]:
    """The long-poll transport's ``POST /channels/web/poll`` body: (token, last seq seen)."""
    body = _decoded(_poll, raw, "invalid poll")
    return body.token, _whole(body.after, "invalid poll")


def _whole(after: float, what: str) -> int:
    if not float(after).is_integer():
        raise BadRequest(f"{what}: 'after' must be a whole number")
    return int(after)


def _checked(frame: MessageFrame) -> MessageFrame:
    """The frame if it is well-formed, its texts cleaned of lone surrogates (which the bus
    cannot encode; ``channels.identifiers``)."""
    if not 1 <= len(frame.id) <= 100 or not is_valid_id(frame.id):
        raise BadRequest("'id' must be 1 to 100 printable ASCII characters without spaces")
    if (frame.text is None) == (frame.payload is None):
        raise BadRequest("give exactly one of 'text' and 'payload'")
    content = frame.text if frame.text is not None else frame.payload or ""
    if not content.strip() or len(content) > MAX_TEXT:
        raise BadRequest(f"the message must have 1 to {MAX_TEXT} characters")
    return msgspec.structs.replace(
        frame, **{name: without_lone_surrogates(value) for name in ("text", "payload", "title")
                  if (value := getattr(frame, name)) is not None})


def conversation_of(session_id: str) -> str:
    return f"{CHANNEL}:{ACCOUNT}:{session_id}"


def inbound(session_id: str, frame: MessageFrame, *, now: float | None = None
            ) -> InboundMessage:
    return InboundMessage(channel=CHANNEL, account=ACCOUNT, chat=session_id,
                          user_id=session_id, message_id=f"{session_id}:{frame.id}",
                          text=frame.text or "", payload=frame.payload,
                          received_at=time.time() if now is None else now)


def inbound_rating(session_id: str, frame: FeedbackFrame, *, now: float | None = None
                   ) -> InboundMessage:
    """The inbox entry of a rating (kind ``feedback``), keyed by the reply it rates."""
    rating = frame.rating
    key = f"{rating.kind}:{rating.about_sequence or 0}:{rating.about_position or 0}"
    return InboundMessage(channel=CHANNEL, account=ACCOUNT, chat=session_id,
                          user_id=session_id, message_id=f"{session_id}:rating:{key}",
                          kind="feedback", control=rating.to_control(),
                          received_at=time.time() if now is None else now)


def conversation_start(session_id: str, *, now: float | None = None) -> InboundMessage:
    """The event that opens a new session's conversation, so the bot may greet first.

    It goes through the normal ingress when the gateway creates the session: it takes the
    conversation's first sequence number (the person's messages are answered after it),
    and its message id, the bare session id, is its dedupe key: it happens once."""
    return InboundMessage(channel=CHANNEL, account=ACCOUNT, chat=session_id,
                          user_id=session_id, message_id=session_id,
                          kind="conversation_start",
                          received_at=time.time() if now is None else now)


class _User(msgspec.Struct):
    type: Literal["user"]
    seq: int
    id: str
    text: str | None
    payload: str | None
    title: str | None
    at: float


def user_frame_parts(frame: MessageFrame, *, at: float) -> tuple[bytes, bytes]:
    """The ``user`` frame of an accepted message, split where its ``seq`` goes: the
    ingress script numbers it and appends it to the outbox as it accepts the message."""
    return _split(msgspec.json.encode(_User(
        type="user", seq=_SEQ_MARKER, id=frame.id, text=frame.text, payload=frame.payload,
        title=frame.title, at=round(at, 3))))


class _Reply(msgspec.Struct):
    type: Literal["reply"]
    seq: int
    in_reply_to: str
    turn: int    # with ``index``, what a rating names (``about_sequence``/``_position``)
    index: int
    text: str
    buttons: list[dict[str, str]]
    image: str | None
    at: float
    author: str = "bot"   # "agent": a person at the desk wrote it (``name``)
    name: str = ""


def reply_frame_parts(message: OutboundMessage, *, at: float) -> tuple[bytes, bytes]:
    """The reply frame split where its ``seq`` goes: the outbox script numbers it.

    ``in_reply_to`` is the client id of the message answered; empty for the bot's opening
    words (the conversation-start event has no client id)."""
    return _split(msgspec.json.encode(_Reply(
        type="reply", seq=_SEQ_MARKER, in_reply_to=message.in_reply_to.partition(":")[2],
        turn=message.sequence, index=message.index, text=message.text,
        buttons=[{"title": b.title, "payload": b.payload} for b in message.buttons],
        image=message.image, at=round(at, 3), author=message.author,
        name=message.agent_name if message.author == "agent" else "")))


class _Rated(msgspec.Struct):
    type: Literal["rated"]
    seq: int
    id: str
    kind: str
    value: int
    turn: int | None
    index: int | None
    at: float


def rated_frame_parts(frame: FeedbackFrame, *, at: float) -> tuple[bytes, bytes]:
    """The ``rated`` frame of an accepted rating, split where its ``seq`` goes (as
    ``user_frame_parts``): every tab, and the page after a reload, shows the choice."""
    rating = frame.rating
    return _split(msgspec.json.encode(_Rated(
        type="rated", seq=_SEQ_MARKER, id=frame.id, kind=rating.kind, value=rating.value,
        turn=rating.about_sequence, index=rating.about_position, at=round(at, 3))))


def _split(frame: bytes) -> tuple[bytes, bytes]:
    prefix, _, suffix = frame.partition(str(_SEQ_MARKER).encode())
    return prefix, suffix


class _Seq(msgspec.Struct):
    seq: int = 0


_seq = msgspec.json.Decoder(_Seq)


def frame_sequence(frame: bytes) -> int:
    """A stored frame's ``seq`` (0 for frames that carry none, such as typing)."""
    return _seq.decode(frame).seq
