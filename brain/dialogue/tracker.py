"""The conversation tracker: an event log and the state it implies.

State (slots, active form, requested slot, handoff, fallback stage) is derived by applying
events in order. The stored JSON is a snapshot of that state plus the last ``keep`` events,
so loading and saving cost the same on turn 1000 as on turn 1 (replaying the whole log cost
~75 µs per turn of history on every turn); the full history is kept apart, append-only (see
``workers.conversation_store``). ``event_count`` counts every event ever applied, including
those no longer held. The JSON carries a schema version; version 1 (the whole log, state by
replay) is still read; any other is refused rather than misread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from brain.dialogue.events import (
    AgentUttered,
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

SCHEMA_VERSION = 2
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
    dropped: int = field(init=False, default=0)  # events before ``events[0]``, not held

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
        if isinstance(event, UserUttered | BotUttered | AgentUttered):
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

    @property
    def event_count(self) -> int:
        """Events applied over the conversation's life, held or not: a stable turn counter."""
        return self.dropped + len(self.events)

    def events_since(self, count: int) -> list[Event]:
        """The events applied after the ``count``-th (for appending to the history)."""
        return self.events[max(count - self.dropped, 0):]

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
        """The held events since the last ``SessionStarted`` (a stored tracker holds the last
        ``keep`` events, far more than any session start or action window looks back)."""
        for index in range(len(self.events) - 1, -1, -1):
            if isinstance(self.events[index], SessionStarted):
                return self.events[index + 1:]
        return list(self.events)

    def window(self, turns: int = 10) -> list[dict[str, str]]:
        """The last ``turns`` messages, oldest first, as ``{"role", "text"}``: for actions."""
        roles = {UserUttered: "user", BotUttered: "bot", AgentUttered: "agent"}
        messages = [{"role": roles[type(e)], "text": e.text} for e in self.current_session()
                    if isinstance(e, UserUttered | BotUttered | AgentUttered)]
        return messages[-turns:]

    def to_json(self, keep: int | None = None) -> str:
        """Snapshot of the state plus the last ``keep`` events (all of them when None)."""
        held = self.events if keep is None or keep >= len(self.events) else \
            self.events[len(self.events) - keep:]
        return json.dumps({
            "schema_version": SCHEMA_VERSION,
            "conversation_id": self.conversation_id,
            "initial_slots": self.initial_slots,
            "state": {"slots": self.slots, "active_form": self.active_form,
                      "handoff": self.handoff, "fallback_stage": self.fallback_stage,
                      "last_activity": self.last_activity},
            "dropped": self.event_count - len(held),
            "events": [e.to_dict() for e in held],
        }, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Tracker:
        data = json.loads(text)
        version = data.get("schema_version")
        if version == 1:  # the whole log: state by replay
            return cls(conversation_id=data["conversation_id"],
                       initial_slots=data.get("initial_slots", {}),
                       events=[event_from_dict(e) for e in data.get("events", [])])
        if version != SCHEMA_VERSION:
            raise TrackerSchemaError(f"tracker schema version {version!r} is not "
                                     f"{SCHEMA_VERSION}; it was written by another Parley")
        tracker = cls(conversation_id=data["conversation_id"],
                      initial_slots=data.get("initial_slots", {}))
        state = data["state"]
        tracker.slots = dict(state["slots"])
        tracker.active_form = state["active_form"]
        tracker.handoff = bool(state["handoff"])
        tracker.fallback_stage = int(state["fallback_stage"])
        tracker.last_activity = float(state["last_activity"])
        tracker.dropped = int(data.get("dropped", 0))
        tracker.events = [event_from_dict(e) for e in data.get("events", [])]
        return tracker
