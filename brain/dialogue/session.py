"""Session expiry: a message after ``session_expiration_time`` of silence starts a new
session, carrying over the slots when ``carry_over_slots_to_new_session`` is set."""

from __future__ import annotations

from brain.dialogue.domain import SessionConfig
from brain.dialogue.events import SessionStarted, SlotSet
from brain.dialogue.tracker import REQUESTED_SLOT, Tracker

__all__ = ["start_session_if_due"]


def start_session_if_due(tracker: Tracker, config: SessionConfig, now: float) -> bool:
    """Apply ``SessionStarted`` (and carried-over slots) if a new session is due."""
    first = tracker.event_count == 0
    expired = (config.session_expiration_time > 0 and tracker.last_activity > 0
               and now - tracker.last_activity > config.session_expiration_time * 60)
    if not (first or expired):
        return False
    carried = {name: value for name, value in tracker.slots.items()
               if name != REQUESTED_SLOT and value != tracker.initial_slots.get(name)}
    tracker.apply(SessionStarted(timestamp=now))
    if expired and config.carry_over_slots_to_new_session:
        for name, value in carried.items():
            tracker.apply(SlotSet(timestamp=now, name=name, value=value))
    return True
