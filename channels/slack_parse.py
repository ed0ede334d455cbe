"""Slack payloads → ``InboundMessage``: pure functions, no I/O.

Which messages are taken (the rest are skipped, answered 200, nothing enqueued):

- ``message`` events in direct messages (``channel_type`` ``im``), and in the channels the
  operator listed to listen to (every message there);
- ``app_mention`` events elsewhere (a channel message that mentions the bot). In a listened
  channel a mention arrives twice, as ``message`` and as ``app_mention`` with different
  ``event_id``s: the ``app_mention`` is skipped there so it is answered once;
- ``block_actions`` with a button (its ``value`` is the payload).

Skipped: edits, deletions, joins and every other message ``subtype`` except ``file_share``
and ``thread_broadcast``; messages of bots (this one's and others': two bots must not talk
to each other forever); event types without a parser (the dispatch table's default).

Addressing: account = team id; chat = channel id, plus ``:<thread_ts>`` when the message is
in a thread, so the reply goes to that thread. The sender reads it back with ``address``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from channels.models import Attachment, InboundMessage, OutboundMessage

__all__ = ["CHANNEL", "Address", "EventContext", "address", "clean_text", "pacing_key",
           "parse_block_action", "parse_event"]

CHANNEL = "slack"
_TAKEN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_log = logging.getLogger("parley.channels.slack")


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


def parse_event(body: Mapping[str, Any], context: EventContext) -> InboundMessage | None:
    """An Events API ``event_callback`` → a message, or None when it is to be skipped."""
    event = body.get("event")
    if not isinstance(event, dict) or not context.team_id:  # org-wide installs: not served
        return None
    parser = _EVENT_PARSERS.get(str(event.get("type")))
    if parser is None:
        _log.debug("skipped Slack event of type %r", event.get("type"))
        return None
    return parser(body, event, context)


def _message(body: Mapping[str, Any], event: dict[str, Any], context: EventContext
             ) -> InboundMessage | None:
    channel = event.get("channel")
    if event.get("channel_type") != "im" and channel not in context.listen_channels:
        return None  # a mention there comes as app_mention
    return _from_user(body, event, context)


def _app_mention(body: Mapping[str, Any], event: dict[str, Any], context: EventContext
                 ) -> InboundMessage | None:
    if event.get("channel") in context.listen_channels:
        return None  # the message event of the same post is taken instead
    return _from_user(body, event, context)


def _from_user(body: Mapping[str, Any], event: dict[str, Any], context: EventContext
               ) -> InboundMessage | None:
    if event.get("subtype") not in _TAKEN_SUBTYPES or event.get("bot_id"):
        return None
    user, channel, event_id = event.get("user"), event.get("channel"), body.get("event_id")
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(event_id, str)):
        return None
    text = clean_text(str(event.get("text") or ""), context.bot_user_id)
    files = tuple(Attachment(url=f["url_private"], content_type=str(f.get("mimetype", "")))
                  for f in event.get("files") or () if isinstance(f, dict)
                  and isinstance(f.get("url_private"), str))
    if not text and not files:
        return None
    thread_ts = event.get("thread_ts")
    chat = f"{channel}:{thread_ts}" if isinstance(thread_ts, str) and thread_ts else channel
    raw = {"event_id": event_id, "type": event.get("type"), "ts": event.get("ts"),
           "channel_type": event.get("channel_type")}
    return InboundMessage(channel=CHANNEL, account=context.team_id, chat=chat, user_id=user,
                          message_id=event_id, text=text, attachments=files,
                          received_at=context.now, raw=raw)


_EVENT_PARSERS: dict[str, Callable[[Mapping[str, Any], dict[str, Any], EventContext],
                                   InboundMessage | None]] = {
    "message": _message,
    "app_mention": _app_mention,
}


def parse_block_action(body: Mapping[str, Any], context: EventContext) -> InboundMessage | None:
    """A button click on one of the bot's messages → a message whose payload is the button's
    value; other interactive elements (menus, pickers, modals) are skipped."""
    if not context.team_id:
        return None
    actions = body.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    user = (body.get("user") or {}).get("id")
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    value, action_ts = action.get("value"), action.get("action_ts")
    if action.get("type") != "button" or container.get("type") != "message":
        return None
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(value, str)
            and isinstance(action_ts, str) and user and channel and action_ts):
        return None
    thread_ts = container.get("thread_ts") or message.get("thread_ts")
    chat = f"{channel}:{thread_ts}" if isinstance(thread_ts, str) and thread_ts else channel
    title = (action.get("text") or {}).get("text") or ""
    # Unique per click (Slack does not redeliver interactions, but a proxy might).
    message_id = f"action:{action_ts}:{user}:{action.get('action_id', '')}"
    raw = {"type": "block_actions", "action_id": action.get("action_id"),
           "action_ts": action_ts, "message_ts": container.get("message_ts")}
    return InboundMessage(channel=CHANNEL, account=context.team_id, chat=chat,
                          user_id=user, message_id=message_id, text=str(title),
                          payload=value, received_at=context.now, raw=raw)


_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def clean_text(text: str, bot_user_id: str | None) -> str:
    """The person's words: the bot's own mention removed, Slack's escaping undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    for escaped, plain in _ENTITIES:
        text = text.replace(escaped, plain)
    return text.strip()
