"""The conversation tracker: an event log and the state it implies.

State (slots, active form, requested slot, handoff, fallback stage) is derived by applying
events in order, so a tracker rebuilt from its JSON by replaying its events is identical to
the one that wrote it. The JSON carries a schema version; a tracker written by a newer
schema is refused rather than misread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from brain.dialogue.events import (
    BotUttered,
    Event,
    FallbackTriggered,
    FormActivated,
    FormDeactivated,
    HandoffEnded,
    HandoffStarted,
    SessionStarted,
    SlotSet,
    UserUttered,
    event_from_dict,
)

__all__ = ["REQUESTED_SLOT", "SCHEMA_VERSION", "Tracker", "TrackerSchemaError"]

SCHEMA_VERSION = 1
REQUESTED_SLOT = "requested_slot"


class TrackerSchemaError(ValueError):
    """Stored tracker JSON this version cannot read."""


@dataclass
class Tracker:
    """One conversation. Mutate only through ``apply``."""

    conversation_id: str
    initial_slots: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    slots: dict[str, Any] = field(init=False)
    active_form: str | None = field(init=False, default=None)
    handoff: bool = field(init=False, default=False)
    fallback_stage: int = field(init=False, default=0)
    last_activity: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.slots = dict(self.initial_slots)
        replay, self.events = self.events, []
        for event in replay:
            self.apply(event)

    @property
    def requested_slot(self) -> str | None:
        value = self.slots.get(REQUESTED_SLOT)
        return value if isinstance(value, str) else None

    def apply(self, event: Event) -> None:
        """Append ``event`` and update the state it changes."""
        self.events.append(event)
        if isinstance(event, UserUttered | BotUttered):
            self.last_activity = max(self.last_activity, event.timestamp)
        if isinstance(event, SlotSet):
            self.slots[event.name] = event.value
        elif isinstance(event, FormActivated):
            self.active_form = event.name
        elif isinstance(event, FormDeactivated):
            self.active_form = None
            self.slots[REQUESTED_SLOT] = None
        elif isinstance(event, FallbackTriggered):
            self.fallback_stage = event.stage
        elif isinstance(event, HandoffStarted):
            self.handoff = True
        elif isinstance(event, HandoffEnded):
            self.handoff, self.fallback_stage = False, 0
        elif isinstance(event, SessionStarted):
            self.slots = dict(self.initial_slots)
            self.active_form, self.fallback_stage = None, 0

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def reset_fallback(self) -> None:
        """Understanding resets the fallback counter (recorded, so replays agree)."""
        if self.fallback_stage:
            self.apply(FallbackTriggered(stage=0))

    @property
    def latest_message(self) -> UserUttered | None:
        for event in reversed(self.events):
            if isinstance(event, UserUttered):
                return event
        return None

    def current_session(self) -> list[Event]:
        """The events since the last ``SessionStarted``."""
        for index in range(len(self.events) - 1, -1, -1):
            if isinstance(self.events[index], SessionStarted):
                return self.events[index + 1:]
        return list(self.events)

    def window(self, turns: int = 10) -> list[dict[str, str]]:
        """The last ``turns`` messages, oldest first, as ``{"role", "text"}``: for actions."""
        messages = [{"role": "user" if isinstance(e, UserUttered) else "bot", "text": e.text}
                    for e in self.current_session() if isinstance(e, UserUttered | BotUttered)]
        return messages[-turns:]

    def to_json(self) -> str:
        return json.dumps({
            "schema_version": SCHEMA_VERSION,
            "conversation_id": self.conversation_id,
            "initial_slots": self.initial_slots,
            "events": [e.to_dict() for e in self.events],
        }, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Tracker:
        data = json.loads(text)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise TrackerSchemaError(f"tracker schema version {version!r} is not "
                                     f"{SCHEMA_VERSION}; it was written by another Parley")
        return cls(conversation_id=data["conversation_id"],
                   initial_slots=data.get("initial_slots", {}),
                   events=[event_from_dict(e) for e in data.get("events", [])])
