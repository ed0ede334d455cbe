"""Slack payloads → ``InboundMessage``: pure functions, no I/O.

Every request body is first read into typed structs (``decode_request``) holding only the
fields Parley and bolt read, each checked for its type: a field of the wrong type is a
malformed request (``BadRequest``, 400); a field that is missing is skipped where Slack may
leave it out. What reaches bolt is those structs encoded again, so bolt never meets a shape
it does not expect (a list where it wants an object, an empty ``actions``), whatever a
client signed.

Which messages are taken (the rest are skipped, answered 200, nothing enqueued):

- ``message`` events in direct messages (``channel_type`` ``im``), and in the channels the
  operator listed to listen to (every message there);
- ``app_mention`` events elsewhere (a channel message that mentions the bot). In a listened
  channel a mention arrives twice, as ``message`` and as ``app_mention`` with different
  ``event_id``s: the ``app_mention`` is skipped there so it is answered once;
- ``block_actions`` with a button (its ``value`` is the payload).

Skipped: edits, deletions, joins and every other message ``subtype`` except ``file_share``
and ``thread_broadcast``; messages of bots (this one's and others': two bots must not talk
to each other forever); event types without a parser (the dispatch table's default), an
``event_callback`` without an event, interactions other than button clicks, request types
other than ``url_verification``, ``event_callback`` and ``block_actions``.

Addressing: account = team id; chat = channel id, plus ``:<thread_ts>`` when the message is
in a thread, so the reply goes to that thread. The sender reads it back with ``address``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

import msgspec

from channels.errors import BadRequest
from channels.models import Attachment, InboundMessage, OutboundMessage

__all__ = ["CHANNEL", "Address", "BlockActions", "EventCallback", "EventContext", "Skipped",
           "UrlVerification", "address", "as_bolt_body", "clean_text", "decode_request",
           "pacing_key", "parse_block_action", "parse_event"]

CHANNEL = "slack"
_TAKEN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_T = TypeVar("_T")
# The fields that become a message's ids (``channels.identifiers``): Slack's ids and
# timestamps are short printable ASCII (``T0A1B2C3D``, ``1718000150.000300``); the bounds
# keep every id made of them (``action:<ts>:<user>:<action id>``) within 200 characters.
_SlackId = Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,64}\Z")]
_Ts = Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,32}\Z")]


@dataclass(frozen=True, slots=True)
class EventContext:
    """What parsing needs besides the payload: who the bot is, where it listens, when."""

    team_id: str
    bot_user_id: str | None
    listen_channels: frozenset[str]
    now: float


@dataclass(frozen=True, slots=True)
class Address:
    team_id: str
    channel: str
    thread_ts: str | None


def address(conversation_id: str) -> Address:
    """Where a reply goes: ``slack:<team>:<channel>[:<thread_ts>]`` read back."""
    parts = conversation_id.split(":")
    if len(parts) not in (3, 4) or parts[0] != CHANNEL or not parts[1] or not parts[2]:
        raise ValueError(f"not a Slack conversation id: {conversation_id!r}")
    return Address(parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def pacing_key(message: OutboundMessage) -> str:
    """Slack's ~1 message/s limit is per channel, all of its threads together."""
    where = address(message.conversation_id)
    return f"{where.team_id}:{where.channel}"


# -- the wire: what Parley and bolt read of a request, typed ---------------------------------

class _Wire(msgspec.Struct, frozen=True, omit_defaults=True):
    """Unknown fields are dropped; absent ones stay absent when encoded again for bolt."""


class _Kind(_Wire, frozen=True):
    type: str | None = None


class _Id(_Wire, frozen=True):
    id: _SlackId | None = None


class _User(_Wire, frozen=True):
    id: _SlackId | None = None
    team_id: str | None = None


class _File(_Wire, frozen=True):
    url_private: str | None = None
    mimetype: str | None = None


class MessageEvent(_Wire, frozen=True):
    """A ``message`` or ``app_mention`` event (other types are not read at all)."""

    type: str
    subtype: str | None = None
    user: _SlackId | None = None
    bot_id: str | None = None
    channel: _SlackId | None = None
    channel_type: str | None = None
    text: str | None = None
    ts: str | None = None
    thread_ts: _Ts | None = None
    files: tuple[_File, ...] = ()


class _Authorization(_Wire, frozen=True):
    enterprise_id: str | None = None
    team_id: _SlackId | None = None
    user_id: str | None = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class UrlVerification(_Wire, frozen=True):
    type: str
    challenge: str


class EventCallback(_Wire, frozen=True):
    type: str
    team_id: _SlackId | None = None
    api_app_id: str | None = None
    enterprise_id: str | None = None
    event_id: _SlackId | None = None
    event_time: int | None = None
    authorizations: tuple[_Authorization, ...] = ()
    event: MessageEvent | None = None


class _Text(_Wire, frozen=True):
    type: str | None = None
    text: str | None = None


class _Button(_Wire, frozen=True):
    type: str
    action_id: _SlackId
    block_id: str | None = None
    value: str | None = None
    action_ts: _Ts | None = None
    text: _Text | None = None


class _Container(_Wire, frozen=True):
    type: str | None = None
    channel_id: _SlackId | None = None
    message_ts: str | None = None
    thread_ts: _Ts | None = None


class _MessageRef(_Wire, frozen=True):
    ts: str | None = None
    thread_ts: _Ts | None = None


class BlockActions(_Wire, frozen=True):
    """A click on a button (the only action read; menus and pickers are skipped)."""

    type: str
    actions: tuple[_Button, ...]
    team: _Id | None = None
    enterprise: _Id | None = None
    is_enterprise_install: bool | None = None
    api_app_id: str | None = None
    user: _User | None = None
    channel: _Id | None = None
    container: _Container | None = None
    message: _MessageRef | None = None
    response_url: str | None = None
    trigger_id: str | None = None


class _RateLimited(_Wire, frozen=True):
    type: str
    team_id: _SlackId | None = None


class _EventKind(_Wire, frozen=True):
    event: _Kind | None = None


class _ActionKinds(_Wire, frozen=True):
    actions: tuple[_Kind, ...] = ()


class _FirstAction(_Wire, frozen=True):
    action_id: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A request that is not Parley's to take: answered 200, nothing enqueued."""

    reason: str
    warn: bool = False  # worth an operator's attention (Slack dropped events)


Payload = UrlVerification | EventCallback | BlockActions | Skipped


def decode_request(body: bytes, content_type: str = "") -> Payload:
    """What a Slack request carries: JSON (Events API) or a form whose ``payload`` field is
    JSON (interactivity); ``BadRequest`` if it is neither, or a field has the wrong type.

    The body is read as UTF-8 whatever ``charset`` the Content-Type names (Slack sends
    UTF-8); the form is told from JSON by the Content-Type or a leading ``{``, as bolt does."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8") from exc
    mimetype = content_type.partition(";")[0].strip().lower()
    if mimetype == "application/json" or text.lstrip().startswith(("{", "[")):
        data = _json(text)
    else:
        try:
            form = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=100))
        except ValueError as exc:
            raise BadRequest("the body is not a form of at most 100 fields") from exc
        if "payload" not in form:
            return Skipped("ssl_check" if "ssl_check" in form else "a form without payload")
        data = _json(form["payload"])
    if not isinstance(data, dict):
        raise BadRequest("a Slack payload is a JSON object")
    return _typed(data)


def _typed(data: dict[str, Any]) -> Payload:
    kind = _convert(data, _Kind).type
    if kind == "url_verification":
        return _convert(data, UrlVerification)
    if kind == "event_callback":
        event = _convert(data, _EventKind).event
        envelope = _convert({**data, "event": None}, EventCallback)  # checked for any event
        if event is None:
            return Skipped("an event_callback without an event")
        if event.type not in _EVENT_PARSERS:
            return Skipped(f"an event of type {event.type!r}")
        return msgspec.structs.replace(envelope, event=_convert(data["event"], MessageEvent))
    if kind == "block_actions":
        actions = _convert(data, _ActionKinds).actions
        clicks = _convert({**data, "actions": []}, BlockActions)  # checked for any action
        if not actions or actions[0].type != "button":
            return Skipped("an interaction that is not a button click")
        if _convert(data["actions"][0], _FirstAction).action_id is None:
            return Skipped("a button click without an action_id")
        button = _convert(data["actions"][0], _Button)
        return msgspec.structs.replace(clicks, actions=(button,))
    if kind == "app_rate_limited":
        team = _convert(data, _RateLimited).team_id
        return Skipped(f"Slack dropped events of workspace {team}: the app went over the "
                       "Events API's hourly limit", warn=True)
    return Skipped(f"a request of type {kind!r}")


def _json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=_number)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over 4300 digits, depth
        raise BadRequest("the body is not valid JSON") from exc


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent: an integer if it is one (JSON knows no
    int/float divide: ``7.0`` is the integer 7, as JSON Schema says), else a float."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _convert(data: object, kind: type[_T]) -> _T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"malformed Slack payload: {exc}") from exc
    except UnicodeEncodeError as exc:  # a field name holding a lone surrogate
        raise BadRequest("malformed Slack payload: a field name is not Unicode") from exc


def as_bolt_body(payload: UrlVerification | EventCallback | BlockActions) -> str:
    """``payload`` as the JSON body bolt is given: only the typed fields (ASCII-escaped, so
    a lone surrogate travels; ``channels.identifiers`` replaces it later)."""
    return json.dumps(msgspec.to_builtins(payload))


# -- parsing -----------------------------------------------------------------------------

def parse_event(body: Mapping[str, Any], context: EventContext) -> InboundMessage | None:
    """An Events API ``event_callback`` → a message, or None when it is to be skipped;
    ``BadRequest`` if a field it reads has the wrong type."""
    payload = _typed({"type": "event_callback", **body})
    if not isinstance(payload, EventCallback) or payload.event is None:
        return None
    if not context.team_id:  # org-wide installs: not served
        return None
    return _EVENT_PARSERS[payload.event.type](payload, payload.event, context)


def _message(body: EventCallback, event: MessageEvent, context: EventContext
             ) -> InboundMessage | None:
    if event.channel_type != "im" and event.channel not in context.listen_channels:
        return None  # a mention there comes as app_mention
    return _from_user(body, event, context)


def _app_mention(body: EventCallback, event: MessageEvent, context: EventContext
                 ) -> InboundMessage | None:
    if event.channel in context.listen_channels:
        return None  # the message event of the same post is taken instead
    return _from_user(body, event, context)


def _from_user(body: EventCallback, event: MessageEvent, context: EventContext
               ) -> InboundMessage | None:
    if event.subtype not in _TAKEN_SUBTYPES or event.bot_id:
        return None
    user, channel, event_id = event.user, event.channel, body.event_id
    if not (user and channel and event_id):
        return None
    text = clean_text(event.text or "", context.bot_user_id)
    files = tuple(Attachment(url=f.url_private, content_type=f.mimetype or "")
                  for f in event.files if f.url_private)
    if not text and not files:
        return None
    thread_ts = event.thread_ts
    chat = f"{channel}:{thread_ts}" if thread_ts else channel
    raw = {"event_id": event_id, "type": event.type, "ts": event.ts,
           "channel_type": event.channel_type}
    return InboundMessage(channel=CHANNEL, account=context.team_id, chat=chat, user_id=user,
                          message_id=event_id, text=text, attachments=files,
                          received_at=context.now, raw=raw)


_EVENT_PARSERS: dict[str, Callable[[EventCallback, MessageEvent, EventContext],
                                   InboundMessage | None]] = {
    "message": _message,
    "app_mention": _app_mention,
}


def parse_block_action(body: Mapping[str, Any], context: EventContext) -> InboundMessage | None:
    """A button click on one of the bot's messages → a message whose payload is the button's
    value; other interactive elements (menus, pickers, modals) are skipped; ``BadRequest``
    if a field it reads has the wrong type."""
    payload = _typed({"type": "block_actions", **body})
    if not isinstance(payload, BlockActions) or not context.team_id:
        return None
    action, container = payload.actions[0], payload.container or _Container()
    message = payload.message or _MessageRef()
    user = payload.user.id if payload.user else None
    channel = container.channel_id or (payload.channel.id if payload.channel else None)
    value, action_ts = action.value, action.action_ts
    if container.type != "message" or not (user and channel and value is not None
                                            and action_ts):
        return None
    thread_ts = container.thread_ts or message.thread_ts
    chat = f"{channel}:{thread_ts}" if thread_ts else channel
    title = (action.text.text if action.text else None) or ""
    # Unique per click (Slack does not redeliver interactions, but a proxy might).
    message_id = f"action:{action_ts}:{user}:{action.action_id}"
    raw = {"type": "block_actions", "action_id": action.action_id,
           "action_ts": action_ts, "message_ts": container.message_ts}
    return InboundMessage(channel=CHANNEL, account=context.team_id, chat=chat,
                          user_id=user, message_id=message_id, text=title,
                          payload=value, received_at=context.now, raw=raw)


_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def clean_text(text: str, bot_user_id: str | None) -> str:
    """The person's words: the bot's own mention removed, Slack's escaping undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    for escaped, plain in _ENTITIES:
        text = text.replace(escaped, plain)
    return text.strip()
