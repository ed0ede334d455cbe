"""A Telegram webhook update as Parley's ``InboundMessage`` (pure: no I/O).

Updates are read into typed structs (msgspec) holding only the fields Parley reads, and
dispatched on their type; the default is "ignored" (answered 200, nothing enqueued): edits,
channel posts, membership changes, inline queries and anything newer than this module. A
field of the wrong type (``"text": 5``) or an integer beyond 64 bits (a ``date`` no clock
can hold) is a malformed update: ``BadRequest``, whatever else the body holds. An entity
whose span is not in its text, or cuts a character in two, is left out as if absent (an
entity is a hint about the text, and a refused update would hold up Telegram's queue of the
bot's later ones).

- ``message`` in a private chat: its text (or a photo's caption).
- ``message`` in a group: only what is meant for the bot — a command (``/cmd`` or
  ``/cmd@ThisBot``; a command for another bot is ignored), a message mentioning ``@ThisBot``
  (the mention is taken out of the text), or a reply to one of the bot's messages.
- ``/start`` becomes the configured start payload (``/greet`` by default): it is what a
  Telegram client sends when a person opens the bot, and the bot's intents know no "start".
  Other commands go to the brain as their text without ``@ThisBot`` (``/book_table``), the
  same text a person could type on any channel.
- ``callback_query`` (an inline-keyboard button): the payload is its ``data``; the query's id
  is kept so that the webhook's answer can stop the client's spinner.

The conversation is ``telegram:<bot id>:<chat id>``, plus ``:<topic id>`` for a message in a
forum topic, so that a reply lands in the topic it answers. The dedupe key is
``<bot id>:<update_id>``: unique per bot, as ``update_id`` is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec

from channels.errors import BadRequest
from channels.models import InboundMessage

__all__ = ["BotIdentity", "TelegramUpdate", "parse_update"]

CHANNEL = "telegram"
_T = TypeVar("_T")
# Telegram's integers fit in 64 bits (ids in 52); anything longer is not Telegram's.
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**31)]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from ``getMe``): how a group addresses it."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class TelegramUpdate:
    """``kind`` is "message", "command", "callback_query" or "ignored" (for the metric);
    ``message`` is what to enqueue, if anything; ``callback_query_id`` a query to answer."""

    kind: str
    message: InboundMessage | None = None
    callback_query_id: str | None = None


# -- the wire: the Bot API's objects, the fields Parley reads ------------------------------

class _User(msgspec.Struct, frozen=True):
    id: _Int
    is_bot: bool = False
    username: str | None = None


class _Chat(msgspec.Struct, frozen=True):
    id: _Int
    type: str


class _Entity(msgspec.Struct, frozen=True):
    type: str
    offset: _Count
    length: _Count
    user: _User | None = None


class _Replied(msgspec.Struct, frozen=True):
    from_user: _User | None = msgspec.field(default=None, name="from")


class _Message(msgspec.Struct, frozen=True):
    message_id: _Int
    date: _Int
    chat: _Chat
    from_user: _User | None = msgspec.field(default=None, name="from")
    sender_chat: _Chat | None = None
    text: str | None = None
    caption: str | None = None
    entities: tuple[_Entity, ...] = ()
    caption_entities: tuple[_Entity, ...] = ()
    reply_to_message: _Replied | None = None
    is_topic_message: bool = False
    message_thread_id: _Int | None = None


class _CallbackQuery(msgspec.Struct, frozen=True):
    id: str
    from_user: _User = msgspec.field(name="from")
    chat_instance: str
    data: str | None = None
    message: _Message | None = None  # absent under an inline-mode message


class _Head(msgspec.Struct, frozen=True):
    update_id: _Int


@dataclass(frozen=True, slots=True)
class _Context:
    me: BotIdentity
    start_payload: str
    now: float


IGNORED = TelegramUpdate("ignored")


def parse_update(body: bytes, *, me: BotIdentity, start_payload: str,
                 now: float) -> TelegramUpdate:
    """Raise ``BadRequest`` if ``body`` is not an update; otherwise what it asks of Parley."""
    try:
        data = json.loads(body, parse_float=_number)
    except (ValueError, RecursionError) as exc:  # not JSON/UTF-8, over 4300 digits, depth
        raise BadRequest("the body is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise BadRequest("not a Telegram update: no integer 'update_id'")
    update_id = _convert(data, _Head, "update").update_id
    kind = next((key for key in _HANDLERS if data.get(key) is not None), None)
    if kind is None:
        return IGNORED  # only the types the bot takes are read: no 400 for the others
    wire, handler = _HANDLERS[kind]
    return handler(_Context(me, start_payload, now), update_id,
                   _convert(data[kind], wire, kind))


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent: an integer if it is one (JSON knows no
    int/float divide: ``7.0`` is the integer 7, as JSON Schema says), else a float."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _convert(data: object, kind: type[_T], name: str) -> _T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"malformed Telegram {name}: {exc}") from exc
    except UnicodeEncodeError as exc:  # a field name holding a lone surrogate
        raise BadRequest(f"malformed Telegram {name}: a field name is not Unicode") from exc


def _from_message(context: _Context, update_id: int, message: _Message) -> TelegramUpdate:
    text = message.text or message.caption or ""
    units = _units(text)
    entities = [e for e in message.entities or message.caption_entities if _fits(units, e)]
    if not text or message.chat.type == "channel":
        return IGNORED
    me = context.me
    command = next((e for e in entities if e.type == "bot_command" and e.offset == 0), None)
    payload: str | None = None
    if command is not None:
        name, _, target = _slice(text, command.offset, command.length)[1:].partition("@")
        if target and target.lower() != me.username.lower():
            return IGNORED  # /cmd@OtherBot
        if name.lower() == "start":
            payload = context.start_payload
        text = "/" + name + _slice(text, command.length, None)
    elif message.chat.type in ("group", "supergroup"):
        mentions = [e for e in entities if _mentions_me(e, text, me)]
        replied = message.reply_to_message
        to_me = (replied is not None and replied.from_user is not None
                 and replied.from_user.id == me.id)
        if not mentions and not to_me:
            return IGNORED
        text = " ".join(_without(text, mentions).split()) if mentions else text
    text = text.strip()
    if not text and payload is None:
        return IGNORED
    sender = message.from_user or message.sender_chat
    inbound = InboundMessage(
        channel=CHANNEL, account=str(me.id), chat=_chat_key(message),
        user_id=str(sender.id if sender else message.chat.id),
        message_id=f"{me.id}:{update_id}", text=text, payload=payload,
        received_at=context.now,
        raw={"update_id": update_id, "chat_type": message.chat.type,
             "telegram_message_id": message.message_id})
    return TelegramUpdate("command" if command is not None else "message", inbound)


def _from_callback(context: _Context, update_id: int, query: _CallbackQuery
                   ) -> TelegramUpdate:
    message = query.message
    if query.data is None or message is None:
        # A game button, or a button under an inline-mode message (no chat to answer in):
        # nothing for the bot, but the spinner still needs its answer.
        return TelegramUpdate("ignored", callback_query_id=query.id)
    inbound = InboundMessage(
        channel=CHANNEL, account=str(context.me.id), chat=_chat_key(message),
        user_id=str(query.from_user.id), message_id=f"{context.me.id}:{update_id}",
        payload=query.data, received_at=context.now,
        raw={"update_id": update_id, "chat_type": message.chat.type,
             "telegram_message_id": message.message_id})
    return TelegramUpdate("callback_query", inbound, callback_query_id=query.id)


_HANDLERS: dict[str, tuple[type[Any], Callable[[_Context, int, Any], TelegramUpdate]]] = {
    "message": (_Message, _from_message),
    "callback_query": (_CallbackQuery, _from_callback),
}


def _chat_key(message: _Message) -> str:
    if message.is_topic_message and message.message_thread_id is not None:
        return f"{message.chat.id}:{message.message_thread_id}"
    return str(message.chat.id)


def _mentions_me(entity: _Entity, text: str, me: BotIdentity) -> bool:
    if entity.type == "text_mention":
        return entity.user is not None and entity.user.id == me.id
    return (entity.type == "mention"
            and _slice(text, entity.offset, entity.length).lower() == f"@{me.username.lower()}")


def _slice(text: str, offset: int, length: int | None) -> str:
    """``text[offset:offset + length]`` with both counted in UTF-16 units, as Telegram does
    (for spans ``_fits`` let through; a lone surrogate in the text itself passes, and
    ``channels.identifiers`` replaces it)."""
    units = _units(text)
    end = len(units) if length is None else (offset + length) * 2
    return units[offset * 2:end].decode("utf-16-le", "surrogatepass")


def _units(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def _fits(units: bytes, entity: _Entity) -> bool:
    """Whether ``entity``'s span lies in the text and cuts no character in two."""
    start, end = entity.offset * 2, (entity.offset + entity.length) * 2
    return end <= len(units) and not _inside_pair(units, start) and not _inside_pair(units, end)


def _inside_pair(units: bytes, at: int) -> bool:
    """Whether the byte index ``at`` falls between the two halves of a surrogate pair."""
    if at <= 0 or at >= len(units):
        return False
    before = int.from_bytes(units[at - 2:at], "little")
    after = int.from_bytes(units[at:at + 2], "little")
    return 0xD800 <= before <= 0xDBFF and 0xDC00 <= after <= 0xDFFF


def _without(text: str, entities: list[_Entity]) -> str:
    """``text`` with the ``entities``' spans taken out."""
    units = _units(text)
    for entity in sorted(entities, key=lambda e: e.offset, reverse=True):
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        units = units[:start] + b" \x00" + units[end:]
    return units.decode("utf-16-le", "surrogatepass")
