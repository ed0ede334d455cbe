"""Forms: ask for each required slot in turn, validate answers, finish when all are set.

Validation is by slot type first (``coerce_slot_value``), then by the bot's
``validate_<slot>`` action if it has one, or by its ``validate_<form>`` (Rasa's
``FormValidationAction``: all of a message's slots at once; its ``required_slots`` may
choose the slot asked next). An invalid answer is re-asked with a reason:
the validator's own message, or ``utter_invalid_<slot>``, or a generic line naming what
was expected. The question for a slot is ``utter_ask_<form>_<slot>`` or ``utter_ask_<slot>``.
"""

from __future__ import annotations

from typing import Any, Protocol

from brain.dialogue.domain import Domain, Form
from brain.dialogue.events import Event, FormActivated, FormDeactivated, SlotSet, UserUttered
from brain.dialogue.slot_filling import coerce_slot_value, mapped_values
from brain.dialogue.tracker import REQUESTED_SLOT, Tracker

__all__ = ["FormTurn", "activate_form", "answers_form", "ask_requested_slot", "continue_form"]


class FormTurn(Protocol):
    """What a form needs from the turn it runs in (``engine._Turn``)."""

    tracker: Tracker

    def apply(self, event: Event) -> None: ...
    def record(self, kind: str, value: Any) -> None: ...
    def utter(self, response: str, extra: dict[str, Any] | None = None) -> bool: ...
    def say(self, text: str) -> None: ...
    def validate(self, slot: str, value: Any) -> tuple[bool, Any]: ...
    def validate_form(self, form: Form, candidates: dict[str, Any]
                      ) -> tuple[str, ...] | None: ...


def answers_form(domain: Domain, tracker: Tracker, message: UserUttered) -> bool:
    """Does ``message`` answer the active form: the slot it asked for, or a correction of
    another of its slots (a new order number while it asks for the reason)?"""
    form = domain.forms.get(tracker.active_form or "")
    if form is None:
        return False
    values = mapped_values(domain, tracker, message)
    return any(name == tracker.requested_slot or name in form.required_slots for name in values)


def activate_form(turn: FormTurn, domain: Domain, form: Form, message: UserUttered | None) -> None:
    turn.apply(FormActivated(name=form.name))
    turn.record("action", form.name)
    values = mapped_values(domain, turn.tracker, message, trigger_form=form.name) if message else {}
    ask = _take_values(turn, domain, form, values, announce_invalid=False)
    if not _ask_or_finish(turn, domain, form, ask):
        # Recorded after the question: a form that completes at once (every slot given in
        # the first message) leaves only "action, active_loop: null" for submit rules.
        turn.record("active_loop", form.name)


def continue_form(turn: FormTurn, domain: Domain, message: UserUttered) -> None:
    """The active form's step for a message that answers it."""
    form = domain.forms[turn.tracker.active_form or ""]
    turn.record("action", form.name)
    values = mapped_values(domain, turn.tracker, message)
    ask = _take_values(turn, domain, form, values, announce_invalid=True)
    _ask_or_finish(turn, domain, form, ask)


def ask_requested_slot(turn: FormTurn, domain: Domain) -> None:
    """Re-ask the active form's current question (after a digression)."""
    form = domain.forms.get(turn.tracker.active_form or "")
    requested = turn.tracker.requested_slot
    if form is not None and requested is not None:
        _ask(turn, form, requested)


def _take_values(turn: FormTurn, domain: Domain, form: Form, values: dict[str, Any],
                 *, announce_invalid: bool) -> tuple[str, ...] | None:
    """Set every mapped slot that is valid; a mapped slot already set is a correction.
    Returns the slots to ask for when the bot's ``validate_<form>`` decided them."""
    requested = turn.tracker.requested_slot
    candidates = {}
    for name, raw in values.items():
        value, reason = coerce_slot_value(domain.slots[name], raw)
        if reason is not None:
            if announce_invalid or name == requested:
                _reject(turn, name, raw, reason)
            continue
        candidates[name] = value
    # validate_<slot> per slot, or validate_<form> (Rasa's FormValidationAction) at once
    return turn.validate_form(form, candidates)


def _reject(turn: FormTurn, slot: str, raw: Any, reason: str) -> None:
    if not turn.utter(f"utter_invalid_{slot}", {"value": raw, "reason": reason}):
        turn.say(f"Sorry, \"{raw}\" is not a valid {slot.replace('_', ' ')}: {reason}.")


def _ask_or_finish(turn: FormTurn, domain: Domain, form: Form,
                   ask: tuple[str, ...] | None = None) -> bool:
    """Ask for the first missing slot (or the first of ``ask``), or end the form; True if
    it ended."""
    missing = list(ask) if ask is not None else [
        s for s in form.required_slots if turn.tracker.slots.get(s) is None]
    if missing:
        if turn.tracker.requested_slot != missing[0]:
            turn.apply(SlotSet(name=REQUESTED_SLOT, value=missing[0]))
        _ask(turn, form, missing[0])
        return False
    turn.apply(FormDeactivated(name=form.name, completed=True))
    turn.record("active_loop", None)
    return True


def _ask(turn: FormTurn, form: Form, slot: str) -> None:
    if not (turn.utter(f"utter_ask_{form.name}_{slot}") or turn.utter(f"utter_ask_{slot}")):
        turn.say(f"What is the {slot.replace('_', ' ')}?")
