"""The events a conversation is made of; the tracker is their log.

Every event is a frozen dataclass with a ``type`` tag and round-trips through JSON
(``to_dict`` / ``event_from_dict``), so a tracker can live in Redis between turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "ActionExecuted",
    "ActionFailed",
    "AgentUttered",
    "BotUttered",
    "Event",
    "FallbackTriggered",
    "FormActivated",
    "FormDeactivated",
    "HandoffEnded",
    "HandoffStarted",
    "SessionStarted",
    "SlotSet",
    "UserUttered",
    "event_from_dict",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; ``timestamp`` is seconds since the epoch."""

    type: ClassVar[str] = "event"
    timestamp: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: values are already JSON-shaped, and dataclasses.asdict's deep
        # copy of every parse dominated a worker's turn (4 ms of 12 ms, measured).
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True, slots=True)
class UserUttered(Event):
    """A user message with its parse (intent, entities, fallback flags)."""

    type: ClassVar[str] = "user"
    text: str = ""
    parse: dict[str, Any] = field(default_factory=dict)
    message_id: str = ""
    attachments: tuple[dict[str, str], ...] = ()  # files sent: {"url", "content_type"}

    @property
    def intent(self) -> str | None:
        name: str | None = self.parse.get("intent", {}).get("name")
        return name


@dataclass(frozen=True, slots=True)
class BotUttered(Event):
    """A message the bot sent: text, buttons (title/payload dicts) and the response name."""

    type: ClassVar[str] = "bot"
    text: str = ""
    buttons: tuple[dict[str, str], ...] = ()
    response: str | None = None


@dataclass(frozen=True, slots=True)
class ActionExecuted(Event):
    type: ClassVar[str] = "action"
    name: str = ""


@dataclass(frozen=True, slots=True)
class ActionFailed(Event):
    """A custom action raised; its events were discarded and the user was told."""

    type: ClassVar[str] = "action_failed"
    name: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class SlotSet(Event):
    type: ClassVar[str] = "slot"
    name: str = ""
    value: Any = None


@dataclass(frozen=True, slots=True)
class FormActivated(Event):
    type: ClassVar[str] = "form_start"
    name: str = ""


@dataclass(frozen=True, slots=True)
class FormDeactivated(Event):
    """The active form ended: ``completed`` (all slots filled) or cancelled."""

    type: ClassVar[str] = "form_stop"
    name: str = ""
    completed: bool = False


@dataclass(frozen=True, slots=True)
class FallbackTriggered(Event):
    """A fallback stage was reached (1: did you mean, 2: rephrase, 3: handoff); stage 0
    records that a later turn served the person and the count starts again. ``reason``:
    empty for a message not understood, else why an understood turn did not serve the
    person (``out_of_scope``, ``action_failed``, ``unhandled``; ``brain.dialogue.fallback``)."""

    type: ClassVar[str] = "fallback"
    stage: int = 1
    reason: str = ""


@dataclass(frozen=True, slots=True)
class HandoffStarted(Event):
    """The conversation goes to a person: the bot is silent until it ends. A custom action
    may return one with a ``team`` (desk.yml routes it otherwise) and a ``reason``."""

    type: ClassVar[str] = "handoff"
    reason: str = ""
    team: str = ""


@dataclass(frozen=True, slots=True)
class HandoffEnded(Event):
    """The bot has the conversation again: ``reason`` is ``handed_back``, ``closed``,
    ``timeout`` or ``withdrawn`` (the person asked to go back to the bot)."""

    type: ClassVar[str] = "handback"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AgentUttered(Event):
    """A message a person at the desk sent to the user (``agent``: their account id)."""

    type: ClassVar[str] = "agent"
    text: str = ""
    agent: str = ""
    name: str = ""
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_start"


_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (
    UserUttered, BotUttered, ActionExecuted, ActionFailed, SlotSet, FormActivated,
    FormDeactivated, FallbackTriggered, HandoffStarted, HandoffEnded, AgentUttered,
    SessionStarted)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``to_dict`` output; unknown types raise ``ValueError``."""
    cls = _TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is BotUttered:
        values["buttons"] = tuple(values.get("buttons", ()))
    if cls is UserUttered:
        values["attachments"] = tuple(values.get("attachments", ()))
    return cls(**values)
