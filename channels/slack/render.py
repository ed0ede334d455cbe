"""``OutboundMessage`` → the arguments of one ``chat.postMessage`` call (pure, no I/O).

A plain reply is ``text`` alone. Buttons or an image make it Block Kit: a section with the
text, an image block, actions blocks of buttons whose ``value`` is the payload; ``text``
stays as the fallback Slack shows in notifications. Slack's limits are kept: section text
3000 characters (longer text is split over sections), button title 75 (shortened), button
value 2000 (a longer payload cannot be shortened without changing its meaning: refused),
25 elements per actions block, 50 blocks per message.
"""

from __future__ import annotations

from typing import Any

from channels.models import Button, OutboundMessage
from channels.slack.parse import address

__all__ = ["RenderError", "escape", "render"]

SECTION_CHARS = 3000
TITLE_CHARS = 75
VALUE_CHARS = 2000
BUTTONS_PER_BLOCK = 25
MAX_BLOCKS = 50
ALT_TEXT_CHARS = 2000


class RenderError(ValueError):
    """The reply cannot be expressed within Slack's limits."""


def render(message: OutboundMessage) -> dict[str, Any]:
    where = address(message.conversation_id)
    text = escape(message.text)
    # The fallback of notifications and screen readers: never empty (the SDK warns then).
    fallback = text.strip() or message.image or " / ".join(b.title for b in message.buttons)
    if not fallback.strip():
        raise RenderError("the reply is empty (no text, image or buttons)")
    arguments: dict[str, Any] = {"channel": where.channel, "text": fallback}
    if where.thread_ts:
        arguments["thread_ts"] = where.thread_ts
    if message.buttons or message.image:
        arguments["blocks"] = _blocks(text, message)
    return arguments


def escape(text: str) -> str:
    """Slack reads ``<…>`` as links and mentions and ``&`` as an entity: show them as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(text: str, message: OutboundMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[i:i + SECTION_CHARS]}}
        for i in range(0, len(text), SECTION_CHARS)]
    if message.image:
        alt = message.text[:ALT_TEXT_CHARS] or "image"
        blocks.append({"type": "image", "image_url": message.image, "alt_text": alt})
    buttons = [_button(number, button) for number, button in enumerate(message.buttons)]
    blocks.extend({"type": "actions", "elements": buttons[i:i + BUTTONS_PER_BLOCK]}
                  for i in range(0, len(buttons), BUTTONS_PER_BLOCK))
    if len(blocks) > MAX_BLOCKS:
        raise RenderError(f"the reply needs {len(blocks)} blocks; Slack allows {MAX_BLOCKS}")
    return blocks


def _button(number: int, button: Button) -> dict[str, Any]:
    if len(button.payload) > VALUE_CHARS:
        raise RenderError(f"button {button.title!r}: its payload is longer than "
                          f"{VALUE_CHARS} characters, Slack's limit for a button value")
    title = button.title if len(button.title) <= TITLE_CHARS else \
        button.title[:TITLE_CHARS - 1] + "…"
    # action_id must be unique within the message; the payload travels in ``value``.
    return {"type": "button", "action_id": f"parley-button-{number}",
            "text": {"type": "plain_text", "text": title or "…", "emoji": True},
            "value": button.payload}
