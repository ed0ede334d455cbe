"""How a reply looks on WhatsApp, and how a typed answer maps back to a button.

A session message sent through Twilio's Messages API cannot carry buttons (those need an
approved Content template), so buttons become a numbered list under the text; the person
answers with the number ("2", "2.", "2)") or the option's title ("no", "No"), and
``chosen_payload`` turns that answer back into the button's payload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from channels.models import Button, OutboundMessage

__all__ = ["HINT", "MAX_BODY", "address", "chosen_payload", "message_params", "numbered_text",
           "parties"]

HINT = "_Reply with the number or the name of your choice._"
MAX_BODY = 1600  # characters; Twilio refuses a longer Body (error 21617)
_NUMBER = re.compile(r"(\d{1,2})\s*[.)]?")
_SPACES = re.compile(r"\s+")


def address(number: str) -> str:
    """Twilio's WhatsApp address of an E.164 number."""
    return f"whatsapp:{number}"


def parties(conversation_id: str) -> tuple[str, str]:
    """``(business number, person's number)`` of ``whatsapp:<business>:<person>``."""
    _, business, person = conversation_id.split(":", 2)
    return business, person


def numbered_text(text: str, buttons: Sequence[Button]) -> str:
    if not buttons:
        return text
    options = "\n".join(f"{n}. {b.title}" for n, b in enumerate(buttons, start=1))
    return f"{text}\n\n{options}\n\n{HINT}" if text else f"{options}\n\n{HINT}"


def chosen_payload(answer: str, buttons: Sequence[Button]) -> str | None:
    """The payload of the button ``answer`` names by number or title (any case), if any."""
    said = answer.strip()
    number = _NUMBER.fullmatch(said)
    if number is not None:
        index = int(number.group(1)) - 1
        return buttons[index].payload if 0 <= index < len(buttons) else None
    folded = _folded(said)
    for button in buttons:
        if folded and _folded(button.title) == folded:
            return button.payload
    return None


def _folded(words: str) -> str:
    return _SPACES.sub(" ", words).strip().rstrip(".!").strip().casefold()


def message_params(message: OutboundMessage, *, from_number: str, status_callback: str | None
                   ) -> dict[str, object]:
    """The keyword arguments of ``messages.create_async`` for ``message``.

    A template is sent by its ``ContentSid`` alone: Twilio refuses a Body or media beside
    it outside the 24-hour window."""
    _, person = parties(message.conversation_id)
    params: dict[str, object] = {"to": address(person), "from_": address(from_number)}
    if status_callback:
        params["status_callback"] = status_callback
    if message.template:
        params["content_sid"] = message.template
        return params
    body = numbered_text(message.text, message.buttons)
    if body:
        params["body"] = body
    if message.image:
        params["media_url"] = [message.image]
    return params
