"""What an action sees (``ActionContext``) and how it talks to the user (``Dispatcher``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brain.dialogue.events import UserUttered
from brain.dialogue.tracker import Tracker

__all__ = ["ActionContext", "Dispatcher", "OutgoingMessage"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A bot message on its way to the user; ``response`` names the template it came from."""

    text: str
    buttons: tuple[dict[str, str], ...] = ()
    image: str | None = None
    response: str | None = None


@dataclass
class Dispatcher:
    """Collects what an action says; nothing is sent if the action fails."""

    render: Callable[[str, Mapping[str, Any]], OutgoingMessage | None]
    messages: list[OutgoingMessage] = field(default_factory=list)

    def utter(self, response: str, **values: Any) -> None:
        """Send the domain response ``response``; ``values`` fill placeholders over slots."""
        message = self.render(response, values)
        if message is not None:
            self.messages.append(message)

    def text(self, text: str, buttons: list[dict[str, str]] | None = None) -> None:
        self.messages.append(OutgoingMessage(text, tuple(buttons or ())))


@dataclass(frozen=True)
class ActionContext:
    tracker: Tracker
    slots: Mapping[str, Any]
    latest_message: UserUttered | None
    dispatcher: Dispatcher
    clients: Mapping[str, Any]
    conversation_id: str
    idempotency_key: str
    slot_candidate: Any = None
