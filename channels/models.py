"""The event model every channel converts to and from; the core sees nothing else.

Wire models are frozen msgspec structs: they round-trip through JSON (Redis, Celery), keep
the platform's raw payload read-only, and never hold clients or callbacks.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["Attachment", "Button", "InboundMessage", "OutboundMessage", "decode_inbound",
           "decode_outbound"]


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


_inbound = msgspec.json.Decoder(InboundMessage)
_outbound = msgspec.json.Decoder(OutboundMessage)


def decode_inbound(data: bytes | str) -> InboundMessage:
    return _inbound.decode(data)


def decode_outbound(data: bytes | str) -> OutboundMessage:
    return _outbound.decode(data)
