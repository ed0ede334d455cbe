"""A Telegram webhook update as Parley's ``InboundMessage`` (pure: no I/O).

Updates are read with PTB's ``Update.de_json`` and dispatched on their type; the default is
"ignored" (answered 200, nothing enqueued): edits, channel posts, membership changes, inline
queries and anything newer than this module.

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
from typing import Any

from telegram import CallbackQuery, Message, MessageEntity, Update
from telegram.constants import ChatType

from channels.errors import BadRequest
from channels.models import InboundMessage

__all__ = ["BotIdentity", "TelegramUpdate", "parse_update"]

CHANNEL = "telegram"


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
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("the body is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise BadRequest("not a Telegram update: no integer 'update_id'")
    kind = next((key for key in _HANDLERS if data.get(key) is not None), None)
    if kind is None:
        return IGNORED  # only the types the bot takes are read: no 400 for the others
    try:
        update = Update.de_json({"update_id": data["update_id"], kind: data[kind]}, None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest(f"malformed Telegram {kind}: {type(exc).__name__}") from exc
    return _HANDLERS[kind](_Context(me, start_payload, now), update.update_id,
                           getattr(update, kind))


def _from_message(context: _Context, update_id: int, message: Message) -> TelegramUpdate:
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities
    if not text or message.chat.type == ChatType.CHANNEL:
        return IGNORED
    me = context.me
    command = next((e for e in entities
                    if e.type == MessageEntity.BOT_COMMAND and e.offset == 0), None)
    payload: str | None = None
    if command is not None:
        name, _, target = _slice(text, command.offset, command.length)[1:].partition("@")
        if target and target.lower() != me.username.lower():
            return IGNORED  # /cmd@OtherBot
        if name.lower() == "start":
            payload = context.start_payload
        text = "/" + name + _slice(text, command.length, None)
    elif message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
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
        raw={"update_id": update_id, "chat_type": str(message.chat.type),
             "telegram_message_id": message.message_id})
    return TelegramUpdate("command" if command is not None else "message", inbound)


def _from_callback(context: _Context, update_id: int, query: CallbackQuery) -> TelegramUpdate:
    message = query.message
    if query.data is None or message is None:
        # A game button, or a button under an inline-mode message (no chat to answer in):
        # nothing for the bot, but the spinner still needs its answer.
        return TelegramUpdate("ignored", callback_query_id=query.id)
    chat = (_chat_key(message) if isinstance(message, Message)
            else str(message.chat.id))
    inbound = InboundMessage(
        channel=CHANNEL, account=str(context.me.id), chat=chat,
        user_id=str(query.from_user.id), message_id=f"{context.me.id}:{update_id}",
        payload=query.data, received_at=context.now,
        raw={"update_id": update_id, "chat_type": str(message.chat.type),
             "telegram_message_id": message.message_id})
    return TelegramUpdate("callback_query", inbound, callback_query_id=query.id)


_HANDLERS: dict[str, Callable[[_Context, int, Any], TelegramUpdate]] = {
    "message": _from_message,
    "callback_query": _from_callback,
}


def _chat_key(message: Message) -> str:
    if message.is_topic_message and message.message_thread_id is not None:
        return f"{message.chat.id}:{message.message_thread_id}"
    return str(message.chat.id)


def _mentions_me(entity: MessageEntity, text: str, me: BotIdentity) -> bool:
    if entity.type == MessageEntity.TEXT_MENTION:
        return entity.user is not None and entity.user.id == me.id
    return (entity.type == MessageEntity.MENTION
            and _slice(text, entity.offset, entity.length).lower() == f"@{me.username.lower()}")


def _slice(text: str, offset: int, length: int | None) -> str:
    """``text[offset:offset + length]`` with both counted in UTF-16 units, as Telegram does."""
    units = text.encode("utf-16-le")
    end = None if length is None else (offset + length) * 2
    return units[offset * 2:end].decode("utf-16-le")


def _without(text: str, entities: list[MessageEntity]) -> str:
    """``text`` with the ``entities``' spans taken out."""
    units = text.encode("utf-16-le")
    for entity in sorted(entities, key=lambda e: e.offset, reverse=True):
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        units = units[:start] + b" \x00" + units[end:]
    return units.decode("utf-16-le")
