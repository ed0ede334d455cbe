"""The form every identifier of an inbound message must have, and text the bus can carry.

A message's ids become Redis keys (dedupe, conversation state), HTTP headers (the website's
``X-Parley-Delivery-Id``) and log fields, so each channel's parse is followed by one check,
the same for every channel, before anything is stored (``gateway.ingress``):

- ``account``, ``chat``, ``user_id`` and ``message_id`` are 1 to ``MAX_ID_LENGTH``
  characters, each a printable ASCII character other than space (``!`` to ``~``). Every
  platform's ids have that form (Slack ``T…``/``C…``/``1718000150.000300``, Telegram
  numbers, Twilio ``whatsapp:+…`` and ``SM…``, the browser chat's hex session ids); a
  site's own ids on the website webhook must too. Anything else is refused (400): a
  control character in a header would fail every delivery of the conversation's replies.
- Text, a payload and attachment URLs may hold any character except a lone UTF-16
  surrogate (``\\ud800``–``\\udfff`` not in a pair), which JSON can spell but UTF-8 cannot
  encode: each is replaced by U+FFFD, as a decoder replaces an invalid byte.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from channels.errors import BadRequest
from channels.models import Attachment, InboundMessage

__all__ = ["MAX_ID_LENGTH", "checked_inbound", "is_valid_id", "without_lone_surrogates"]

MAX_ID_LENGTH = 200
_ID = re.compile(rf"[!-~]{{1,{MAX_ID_LENGTH}}}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_valid_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def without_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (a pair never reaches here:
    Python strings hold code points, so a surrogate in one is always unpaired)."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def checked_inbound(message: InboundMessage) -> InboundMessage:
    """``message`` if its ids have the documented form, with every lone surrogate in its
    text, payload, attachments and raw payload replaced; ``BadRequest`` naming the field
    if an id is not of that form."""
    for name in ("account", "chat", "user_id", "message_id"):
        value: str = getattr(message, name)
        if not is_valid_id(value):
            raise BadRequest(f"'{name}' must be 1 to {MAX_ID_LENGTH} printable ASCII "
                             "characters without spaces")
    try:
        msgspec.json.encode(message)  # the common case: nothing to replace
    except UnicodeEncodeError:
        return msgspec.structs.replace(
            message, text=without_lone_surrogates(message.text),
            payload=None if message.payload is None else without_lone_surrogates(
                message.payload),
            attachments=tuple(Attachment(without_lone_surrogates(a.url),
                                         without_lone_surrogates(a.content_type))
                              for a in message.attachments),
            raw=_cleaned(message.raw))
    return message


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(item) for item in value]
    return value
