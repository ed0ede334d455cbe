"""Slot mappings (which message fills which slot) and slot types (what a valid value is).

A mapping's ``intent``/``not_intent`` see a message the NLU did not understand as
``nlu_fallback``, as Rasa's do (``mapping_intent``)."""

from __future__ import annotations

from typing import Any

from brain.dialogue.domain import Domain, Slot, SlotMapping
from brain.dialogue.events import UserUttered
from brain.dialogue.tracker import Tracker

__all__ = ["NLU_FALLBACK", "coerce_slot_value", "extracted_values", "mapped_values",
           "mapping_intent"]

NLU_FALLBACK = "nlu_fallback"

_TRUE = {"yes", "y", "true", "yeah", "yep", "sure", "ok", "okay", "correct", "1"}
_FALSE = {"no", "n", "false", "nope", "nah", "0", "incorrect"}


def mapped_values(domain: Domain, tracker: Tracker, message: UserUttered, *,
                  trigger_form: str | None = None) -> dict[str, Any]:
    """Values that ``message`` gives to slots under their mappings, in the current state.

    ``trigger_form`` is the form this message just activated (``from_trigger_intent``).
    """
    found: dict[str, Any] = {}
    for slot in domain.slots.values():
        for mapping in slot.mappings:
            if not _applies(mapping, tracker, message):
                continue
            value = _value(mapping, slot, message, trigger_form, domain)
            if value is not None:
                found[slot.name] = value
                break
    return found


def extracted_values(domain: Domain, tracker: Tracker, message: UserUttered) -> dict[str, Any]:
    """What every user message sets, form or not: Rasa's ``action_extract_slots``, where
    slot mappings are global. The values of mappings that apply (their conditions hold),
    in the slot's type; a value that does not fit is left out (a form asking for that slot
    says why), and so is a value the slot already holds. The active form's own slots are
    left to the form, which validates them as it takes them."""
    form = domain.forms.get(tracker.active_form or "")
    own = set(form.required_slots) if form else set()
    found: dict[str, Any] = {}
    for name, raw in mapped_values(domain, tracker, message).items():
        if name in own:
            continue
        value, reason = coerce_slot_value(domain.slots[name], raw)
        if reason is None and value != tracker.slots.get(name):
            found[name] = value
    return found


def mapping_intent(message: UserUttered) -> str | None:
    """The intent a mapping's ``intent``/``not_intent`` is checked against: Rasa's
    ``nlu_fallback`` for a message the NLU did not understand (Rasa's FallbackClassifier
    puts it in place of the guess), so that a ``from_text`` question takes such an answer
    even when the guess is an intent the mapping excludes."""
    parse = message.parse
    if parse.get("nlu_fallback") or parse.get("ambiguous"):
        return NLU_FALLBACK
    return message.intent


def _applies(mapping: SlotMapping, tracker: Tracker, message: UserUttered) -> bool:
    intent = mapping_intent(message)
    if mapping.intent and intent not in mapping.intent:
        return False
    if intent in mapping.not_intent:
        return False
    if not mapping.conditions:
        return True
    return any(c.active_loop == tracker.active_form and
               (c.requested_slot is None or c.requested_slot == tracker.requested_slot)
               for c in mapping.conditions)


def _value(mapping: SlotMapping, slot: Slot, message: UserUttered, trigger_form: str | None,
           domain: Domain) -> Any:
    if mapping.type == "from_entity":
        values = [e["value"] for e in message.parse.get("entities", [])
                  if e["entity"] == mapping.entity]
        if not values:
            return None
        return values if slot.type == "list" else values[0]
    if mapping.type == "from_text":
        return message.text.strip() or None
    if mapping.type == "from_intent":
        return mapping.value
    if mapping.type == "from_trigger_intent" and trigger_form is not None:
        return mapping.value
    return None


def coerce_slot_value(slot: Slot, value: Any) -> tuple[Any, str | None]:
    """``(value in the slot's type, None)`` or ``(None, reason)`` when it does not fit."""
    if value is None or slot.type == "any":
        return value, None
    if slot.type == "text":
        return str(value), None
    if slot.type == "list":
        return (list(value) if isinstance(value, list | tuple) else [value]), None
    if slot.type == "bool":
        return _bool(value)
    if slot.type == "float":
        return _float(slot, value)
    if slot.type == "categorical":
        for allowed in slot.values:
            if str(value).strip().lower() == allowed.lower():
                return allowed, None
        return None, f"expected one of {', '.join(slot.values)}"
    return value, None


def _bool(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    word = str(value).strip().lower()
    if word in _TRUE:
        return True, None
    if word in _FALSE:
        return False, None
    return None, "expected yes or no"


def _float(slot: Slot, value: Any) -> tuple[Any, str | None]:
    try:
        number = float(str(value).replace(",", "").strip())
    except ValueError:
        return None, "expected a number"
    if slot.min_value is not None and number < slot.min_value:
        return None, f"expected at least {slot.min_value:g}"
    if slot.max_value is not None and number > slot.max_value:
        return None, f"expected at most {slot.max_value:g}"
    return number, None
