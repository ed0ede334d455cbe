"""The form funnel of ``desk.analytics``: which forms started, which completed, and at
which slot the others stopped — read from the turn records' events in order, since no
column says when a form ended or why (``brain.dialogue.events``: ``form_start`` names the
form; ``form_stop`` says ``completed`` when every required slot was filled, and not when
``action_deactivate_loop`` cancelled it; ``session_start`` is a restart, which leaves any
form; the state after each turn names the slot being asked for).

The turn record is stored encrypted, so the walk reads the plain ``turns.form_events``
that :func:`form_events` derives from it: those events and nothing of what the person
said — form and slot names, the ``completed`` flag, never a slot's value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FormTally", "FormWalk", "form_events"]

_NAME = 128  # turns.active_form / turns.requested_slot


def form_events(record: Any) -> list[dict[str, Any]] | None:
    """The events of a turn record the form funnel reads, stripped of everything else
    (``None``: none, or no record a walk could read). A ``slot`` event is kept only for
    ``requested_slot``, whose value is the name of the slot being asked for."""
    events = record.get("events") if isinstance(record, dict) else None
    if not isinstance(events, list):
        return None
    kept: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "form_start":
            kept.append({"type": kind, "name": str(event.get("name", ""))[:_NAME]})
        elif kind == "form_stop":
            kept.append({"type": kind, "completed": bool(event.get("completed"))})
        elif kind == "session_start":
            kept.append({"type": kind})
        elif kind == "slot" and event.get("name") == "requested_slot" \
                and isinstance(event.get("value"), str):
            kept.append({"type": kind, "name": "requested_slot",
                         "value": event["value"][:_NAME]})
    return kept or None


@dataclass(slots=True)
class FormTally:
    """One form's counts in one slice: starts, completions, and the not-completed ones by
    the slot asked for when they stopped (``None``: before any question)."""

    started: int = 0
    completed: int = 0
    dropped: Counter[str | None] = field(default_factory=Counter)

    def add(self, other: FormTally) -> None:
        self.started += other.started
        self.completed += other.completed
        self.dropped.update(other.dropped)


TallyFor = Callable[[str, str, datetime], "FormTally | None"]


class FormWalk:
    """Follows one form at a time through each conversation's turns, given conversation
    by conversation and in sequence: ``form_start`` opens one, counted in the tally
    ``tally_for(form, channel, at)`` gives (``None``: a start not to count, nor follow);
    ``form_stop`` closes it as completed, or as dropped at the slot it was asking for when
    not completed; so does another form's start, a restart, or the end of the
    conversation's turns with the form still open."""

    def __init__(self, tally_for: TallyFor) -> None:
        self._tally_for = tally_for
        self._conversation: str | None = None
        self._open: tuple[FormTally, str | None] | None = None  # (its tally, asked slot)

    def turn(self, conversation: str, channel: str, at: datetime, events: Any,
             state: Any) -> None:
        """One turn (``events``, ``state``: its record's, as stored, maybe malformed)."""
        if conversation != self._conversation:
            self.finish()
            self._conversation = conversation
        for event in _dicts(events):
            kind = event.get("type")
            if kind == "form_start":
                self._drop()
                self._start(str(event.get("name", "")), channel, at)
            elif kind == "slot" and event.get("name") == "requested_slot" and self._open:
                if isinstance(event.get("value"), str):
                    self._open = (self._open[0], event["value"])
            elif kind == "form_stop" and self._open:
                if event.get("completed"):
                    self._open[0].completed += 1
                    self._open = None
                else:
                    self._drop()
            elif kind == "session_start":
                self._drop()
        asked = state.get("requested_slot") if isinstance(state, dict) else None
        if self._open is not None and isinstance(asked, str):
            self._open = (self._open[0], asked)

    def finish(self) -> None:
        """The conversation's turns are over: a form still open stopped where it was."""
        self._drop()

    def _start(self, form: str, channel: str, at: datetime) -> None:
        tally = self._tally_for(form, channel, at)
        if tally is not None:
            tally.started += 1
            self._open = (tally, None)

    def _drop(self) -> None:
        if self._open is not None:
            tally, asked = self._open
            tally.dropped[asked] += 1
            self._open = None


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
