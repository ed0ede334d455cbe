"""A session's events as the records rules and stories match against.

The tracker keeps events (``brain.dialogue.events``); rules with a ``history`` and the
story policy need them in the shape of a turn's log (``LogRecord``: intent, action,
active_loop, each with the slots and active form just before it). A form's activation is
recorded as the form's action followed by ``active_loop: form`` (as a Rasa story writes
it), its end as ``active_loop: null``. Messages, fallback counts and handoff events are
not part of the dialogue's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from brain.dialogue.events import (
    ActionExecuted,
    Event,
    FormActivated,
    FormDeactivated,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from brain.dialogue.rule_matching import LogRecord
from brain.dialogue.tracker import REQUESTED_SLOT

__all__ = ["entity_names", "session_records"]


def session_records(events: Iterable[Event], initial_slots: Mapping[str, Any],
                    entities: Sequence[str] = ()) -> list[LogRecord]:
    """The records of ``events`` (one session's, oldest first). Slots are replayed from
    ``initial_slots``; ``entities``: the domain's, the only ones a state names."""
    slots = dict(initial_slots)
    active: str | None = None
    records: list[LogRecord] = []
    first_message = True
    for event in events:
        if isinstance(event, SlotSet):
            slots[event.name] = event.value
        elif isinstance(event, UserUttered):
            records.append(LogRecord("intent", event.intent, dict(slots), active,
                                     first_message, entity_names(event.parse, entities)))
            first_message = False
        elif isinstance(event, ActionExecuted):
            records.append(LogRecord("action", event.name, dict(slots), active))
        elif isinstance(event, FormActivated):
            records.append(LogRecord("action", event.name, dict(slots), active))
            records.append(LogRecord("active_loop", event.name, dict(slots), active))
            active = event.name
        elif isinstance(event, FormDeactivated):
            records.append(LogRecord("active_loop", None, dict(slots), active))
            active, slots[REQUESTED_SLOT] = None, None
        elif isinstance(event, SessionStarted):
            records, slots, active, first_message = [], dict(initial_slots), None, True
    return records


def entity_names(parse: Mapping[str, Any], known: Sequence[str]) -> tuple[str, ...]:
    """The distinct entity types of a parse that the domain knows, sorted."""
    found = {e.get("entity") for e in parse.get("entities") or () if isinstance(e, Mapping)}
    return tuple(sorted(name for name in found if isinstance(name, str) and name in known))
