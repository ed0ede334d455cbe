"""Parley's tracker and domain as Rasa's JSON: what a Rasa action sees.

``tracker_state`` is the dict Rasa's ``DialogueStateTracker.current_state`` writes (events
in Rasa's event format), which ``rasa_sdk.Tracker.from_dict`` reads in-process and an
action server reads from the HTTP call; ``domain_dict`` is Rasa's ``Domain.as_dict``.

Parley's log differs from Rasa's in ways an action can notice: Parley records no
``action_listen``, so one is written before each user message (as Rasa's log has it);
fallback stages and failed actions have no Rasa event and are left out; a handoff is
``pause``/``resume`` (Rasa's ``ConversationPaused``/``Resumed``). Everything is plain
JSON: an in-process action gets its own copy and cannot change Parley's tracker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from brain.dialogue.domain import Domain, Slot, SlotMapping
from brain.dialogue.events import (
    ActionExecuted,
    AgentUttered,
    BotUttered,
    Event,
    FormActivated,
    FormDeactivated,
    HandoffEnded,
    HandoffStarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from brain.dialogue.tracker import REQUESTED_SLOT, Tracker

__all__ = ["RASA_VERSION", "action_call", "domain_dict", "rasa_events", "tracker_state"]

# The Rasa version whose protocol Parley speaks (rasa_sdk warns on a major.minor mismatch).
RASA_VERSION = "3.6.21"


def action_call(name: str, state: dict[str, Any], domain: dict[str, Any]) -> dict[str, Any]:
    """The body Rasa POSTs to an action server (``rasa_sdk.types.ActionCall``)."""
    return {"next_action": name, "sender_id": state["sender_id"], "tracker": state,
            "domain": domain, "version": RASA_VERSION}


def tracker_state(tracker: Tracker, *, channel: str | None = None, running: str | None = None,
                  extra: Iterable[dict[str, Any]] = (),
                  slots: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rasa's tracker state for ``tracker`` while action ``running`` runs (Parley has logged
    it already, Rasa logs it after the run: it is left out); ``extra`` Rasa events go at
    the end (a form's slot candidates), ``slots`` over the tracker's (their values)."""
    input_channel = channel or tracker.conversation_id.split(":", 1)[0]
    held = tracker.events
    last = held[-1] if held else None
    if running is not None and isinstance(last, ActionExecuted) and last.name == running:
        held = held[:-1]
    events = [*rasa_events(held, input_channel), *extra]
    latest = tracker.latest_message
    actions = [e["name"] for e in events if e.get("event") == "action"]
    return {
        "sender_id": tracker.conversation_id,
        "slots": {**tracker.slots, **(slots or {})},
        "latest_message": _parse_data(latest) if latest else {
            "intent": {}, "entities": [], "text": None},
        "latest_event_time": events[-1].get("timestamp") if events else None,
        "followup_action": None,
        "paused": tracker.handoff,
        "events": events,
        "latest_input_channel": input_channel if latest else None,
        "active_loop": _active_loop(tracker.active_form),
        "latest_action": {"action_name": actions[-1]} if actions else None,
        "latest_action_name": actions[-1] if actions else None,
    }


def rasa_events(events: Iterable[Event], input_channel: str | None) -> list[dict[str, Any]]:
    """Parley's events in Rasa's format; those without a Rasa meaning are left out."""
    written: list[dict[str, Any]] = []
    for event in events:
        when = event.timestamp
        if isinstance(event, UserUttered):
            written.append({"event": "action", "name": "action_listen", "timestamp": when,
                            "policy": None, "confidence": None})
            written.append({"event": "user", "timestamp": when, "text": event.text,
                            "parse_data": _parse_data(event), "input_channel": input_channel,
                            "message_id": event.message_id or None, "metadata": {}})
        elif isinstance(event, BotUttered):
            written.append({"event": "bot", "timestamp": when, "text": event.text,
                            "data": {"buttons": list(event.buttons) or None},
                            "metadata": {"utter_action": event.response}
                            if event.response else {}})
        elif isinstance(event, ActionExecuted):
            written.append({"event": "action", "name": event.name, "timestamp": when,
                            "policy": None, "confidence": None})
        else:
            written.extend(_state_event(event))
    return written


def _state_event(event: Event) -> list[dict[str, Any]]:
    when = event.timestamp
    if isinstance(event, SlotSet):
        return [{"event": "slot", "timestamp": when, "name": event.name, "value": event.value}]
    if isinstance(event, FormActivated):
        return [{"event": "active_loop", "timestamp": when, "name": event.name}]
    if isinstance(event, FormDeactivated):
        return [{"event": "active_loop", "timestamp": when, "name": None},
                {"event": "slot", "timestamp": when, "name": REQUESTED_SLOT, "value": None}]
    if isinstance(event, SessionStarted):
        return [{"event": "session_started", "timestamp": when}]
    if isinstance(event, HandoffStarted):
        return [{"event": "pause", "timestamp": when}]
    if isinstance(event, HandoffEnded):
        return [{"event": "resume", "timestamp": when}]
    if isinstance(event, AgentUttered):
        return [{"event": "agent", "timestamp": when, "text": event.text,
                 "data": {"agent": event.agent, "name": event.name}}]
    return []  # FallbackTriggered, ActionFailed: Parley's own


def _parse_data(message: UserUttered) -> dict[str, Any]:
    parse = message.parse
    return {**parse, "text": parse.get("text", message.text),
            "intent": parse.get("intent") or {}, "entities": list(parse.get("entities", [])),
            "intent_ranking": list(parse.get("intent_ranking", [])),
            "message_id": message.message_id or None, "metadata": {}}


def _active_loop(form: str | None) -> dict[str, Any]:
    if form is None:
        return {}
    return {"name": form, "validate": True, "rejected": False, "trigger_message": {}}


def domain_dict(domain: Domain) -> dict[str, Any]:
    """Rasa's ``Domain.as_dict`` for ``domain`` (what ``FormValidationAction`` reads:
    forms' ``required_slots``, slots' ``mappings`` and their conditions)."""
    return {
        "version": "3.1",
        "intents": list(domain.intents),
        "entities": list(domain.entities),
        "slots": {name: _slot(slot) for name, slot in domain.slots.items()},
        "responses": {name: [_variation(v) for v in variations]
                      for name, variations in domain.responses.items()},
        "actions": list(domain.actions),
        "forms": {name: {"required_slots": list(form.required_slots)}
                  for name, form in domain.forms.items()},
        "session_config": {
            "session_expiration_time": domain.session.session_expiration_time,
            "carry_over_slots_to_new_session": domain.session.carry_over_slots_to_new_session},
        "config": {"store_entities_as_slots": True},
    }


def _slot(slot: Slot) -> dict[str, Any]:
    written: dict[str, Any] = {"type": slot.type, "initial_value": slot.initial_value,
                               "influence_conversation": False,
                               "mappings": [_mapping(m) for m in slot.mappings]}
    if slot.values:
        written["values"] = list(slot.values)
    if slot.min_value is not None:
        written["min_value"] = slot.min_value
    if slot.max_value is not None:
        written["max_value"] = slot.max_value
    return written


def _mapping(mapping: SlotMapping) -> dict[str, Any]:
    written: dict[str, Any] = {"type": mapping.type}
    if mapping.entity is not None:
        written["entity"] = mapping.entity
    if mapping.value is not None:
        written["value"] = mapping.value
    if mapping.intent:
        written["intent"] = list(mapping.intent)
    if mapping.not_intent:
        written["not_intent"] = list(mapping.not_intent)
    if mapping.conditions:
        written["conditions"] = [
            {"active_loop": c.active_loop, **({"requested_slot": c.requested_slot}
                                              if c.requested_slot else {})}
            for c in mapping.conditions]
    return written


def _variation(variation: Any) -> dict[str, Any]:
    written: dict[str, Any] = {"text": variation.text}
    if variation.buttons:
        written["buttons"] = list(variation.buttons)
    if variation.image:
        written["image"] = variation.image
    if variation.channel:
        written["channel"] = variation.channel
    if variation.condition:
        written["condition"] = [{"type": "slot", "name": name, "value": value}
                                for name, value in variation.condition]
    return written
