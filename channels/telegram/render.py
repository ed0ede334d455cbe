"""An ``OutboundMessage`` as the Bot API calls that show it in a Telegram chat (pure).

Texts go out with ``parse_mode=HTML``, every character escaped (the bot's texts are plain:
a ``<`` or ``&`` in them must show as it is, not be taken as markup). Telegram limits a
message to 4096 and a caption to 1024 characters, counted in UTF-16 code units after the
entities are parsed, which is the length of the unescaped text: a longer text is split at a
line break, else at a space, else where it must, and the inline keyboard rides on the last
part. An image becomes ``sendPhoto`` with the text as its caption if the caption fits, else
the photo first and the text after it.

Telegram limits a button's ``callback_data`` to 64 bytes. A longer payload (or one that
looks like a reference) is sent as ``#p:<digest>`` and the digest → payload mapping is kept
in Redis by the sender (see ``channels.telegram.state``).
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from channels.models import Button, OutboundMessage

__all__ = ["CAPTION_LIMIT", "TEXT_LIMIT", "Part", "callback_data", "is_reference",
           "keyboard", "render", "split_text", "utf16_length"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_BYTES = 64
REFERENCE_PREFIX = "#p:"


@dataclass(frozen=True, slots=True)
class Part:
    """One Bot API call: ``sendPhoto`` if ``photo`` is set, else ``sendMessage``.

    ``html`` is the escaped text (the caption of a photo); ``buttons`` go on the last part.
    """

    html: str
    photo: str | None = None
    buttons: tuple[Button, ...] = ()


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-16 units, cut at a line break if one is in
    the second half of the part, else at a space, else at the limit (never inside a
    character). Blank parts are dropped; the break itself is not repeated."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_length(rest) <= limit:
            parts.append(rest)
            break
        fit = _chars_within(rest, limit)
        cut = _break_at(rest, fit)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    return parts


def _chars_within(text: str, limit: int) -> int:
    """How many leading characters of ``text`` fit in ``limit`` UTF-16 units."""
    units = 0
    for count, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return count
    return len(text)


def _break_at(text: str, fit: int) -> int:
    for separator in ("\n", " "):
        at = text.rfind(separator, 0, fit + 1)
        if at > fit // 2:
            return at
    return fit


def callback_data(payload: str) -> str:
    """What a button carries: its payload, or a reference to it if it is too long."""
    if len(payload.encode()) <= CALLBACK_DATA_BYTES and not payload.startswith(REFERENCE_PREFIX):
        return payload
    digest = hashlib.sha256(payload.encode()).digest()[:16]
    return REFERENCE_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_reference(data: str) -> bool:
    return data.startswith(REFERENCE_PREFIX)


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """Short titles (≤ 3 buttons of ≤ 12 characters, like Yes / No) share a row; otherwise
    one button per row, so long titles are not cut off on a phone."""
    if not buttons:
        return None
    cells = [InlineKeyboardButton(b.title, callback_data=callback_data(b.payload))
             for b in buttons]
    if len(cells) <= 3 and all(len(b.title) <= 12 for b in buttons):
        return InlineKeyboardMarkup([cells])
    return InlineKeyboardMarkup([[cell] for cell in cells])


def render(message: OutboundMessage) -> list[Part]:
    """The calls that show ``message``, in order; empty if it has neither text nor image."""
    text = message.text.strip()
    parts: list[Part] = []
    if message.image:
        if utf16_length(text) <= CAPTION_LIMIT:
            return [Part(_escape(text), photo=message.image, buttons=message.buttons)]
        parts.append(Part("", photo=message.image))
    chunks = split_text(text)
    for number, chunk in enumerate(chunks, start=1):
        last = number == len(chunks)
        parts.append(Part(_escape(chunk), buttons=message.buttons if last else ()))
    return parts


def _escape(text: str) -> str:
    # Telegram's HTML mode knows &lt; &gt; &amp; (and &quot;); quotes need no escaping.
    return html.escape(text, quote=False)
