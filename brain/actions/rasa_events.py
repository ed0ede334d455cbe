"""What a Rasa action returned (event dicts, response dicts) as Parley events and messages.

Both ways of running a Rasa action give dicts: ``rasa_sdk`` events are dicts, and so is
an action server's JSON. Supported events and their Parley meaning:

    slot              SlotSet (a slot the domain does not have is skipped, as in Rasa)
    followup          the named action runs next, in the same turn
    active_loop       name: the form runs next (it activates and asks); null: the active
                      form ends (rules on ``active_loop: null`` go on)
    restart           SessionStarted (slots back to their initial values, form ended)
    session_started   SessionStarted
    reset_slots       SlotSet back to the initial value for every slot that differs
    pause             HandoffStarted: the conversation goes to a person (desk.yml routes it)
    resume            cancels a ``pause`` of the same action; otherwise nothing (actions
                      run only while the bot holds the conversation)
    bot               a message sent to the user

Unsupported, ignored and logged once per action (``unsupported``): ``rewind``
(UserUtteranceReverted) and ``undo`` (ActionReverted) — Parley's tracker is an
append-only log with a state snapshot and cannot take back a message or an action;
``reminder``/``cancel_reminder`` — Parley has no scheduler for a conversation; ``user``,
``action``, ``agent``, ``entities``, ``loop_interrupted``, ``session_ended`` and others.

A response dict (``dispatcher.utter_message``) maps to one message: ``response`` is
rendered from the domain with the other keyword arguments as values, ``text`` replaces
its text, ``buttons`` are added, ``image`` kept; ``json_message``/``custom``, ``elements``
and ``attachment`` have no Parley channel form and are dropped (logged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brain.actions.context import OutgoingMessage
from brain.dialogue.domain import Domain
from brain.dialogue.events import Event, FormDeactivated, HandoffStarted, SessionStarted, SlotSet
from brain.dialogue.tracker import REQUESTED_SLOT, Tracker

__all__ = ["FormChecked", "RasaEffects", "Render", "form_checked", "rasa_effects",
           "response_messages"]

Render = Callable[[str, Mapping[str, Any]], OutgoingMessage | None]
_MESSAGE_KEYS = {"text", "buttons", "elements", "custom", "template", "response", "image",
                 "attachment"}


@dataclass
class RasaEffects:
    """In order: events to apply and messages to send; the action to run next."""

    steps: list[Event | OutgoingMessage] = field(default_factory=list)
    followup: str | None = None
    unsupported: list[str] = field(default_factory=list)


@dataclass
class FormChecked:
    """A form validation action's answer: slot values (``None``: rejected), the slots
    still to ask for when it decided them (``()``: the form is done), messages."""

    values: dict[str, Any] = field(default_factory=dict)
    ask: tuple[str, ...] | None = None
    rejected: bool = False
    messages: list[OutgoingMessage] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def response_messages(responses: Iterable[dict[str, Any]], render: Render
                      ) -> tuple[list[OutgoingMessage], list[str]]:
    """The messages of ``responses``, and what in them could not be sent."""
    messages, dropped = [], []
    for item in responses:
        name = item.get("response") or item.get("template")
        values = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
        base = render(str(name), values) if name else None
        if name and base is None:
            dropped.append(f"response {name} (not in the domain)")
            continue
        dropped.extend(f"utter_message {key}" for key in ("custom", "elements", "attachment")
                       if item.get(key))
        message = _message(item.get("text"), item.get("buttons"), item.get("image"), base)
        if message is not None:
            messages.append(message)
    return messages, dropped


def _message(text: Any, buttons: Any, image: Any, base: OutgoingMessage | None
             ) -> OutgoingMessage | None:
    added = tuple({"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                  for b in (buttons or []) if isinstance(b, dict))
    message = OutgoingMessage(str(text) if text else (base.text if base else ""),
                              (base.buttons if base else ()) + added,
                              str(image) if image else (base.image if base else None),
                              base.response if base else None)
    return message if (message.text or message.buttons or message.image) else None


def rasa_effects(events: Iterable[dict[str, Any]], *, action: str, tracker: Tracker,
                 domain: Domain, now: float) -> RasaEffects:
    """Parley's reading of the events a (non-validation) Rasa action returned."""
    effects = RasaEffects()
    slots, active = dict(tracker.slots), tracker.active_form
    for event in events:
        kind = str(event.get("event"))
        if kind == "slot":
            _slot(event, domain, slots, effects, now)
        elif kind == "followup":
            effects.followup = str(event.get("name") or "") or None
        elif kind == "active_loop" and event.get("name") in domain.forms:
            effects.followup = str(event["name"])
        elif kind == "active_loop" and event.get("name") is None:
            if active is not None:
                effects.steps.append(FormDeactivated(timestamp=now, name=active))
                slots[REQUESTED_SLOT], active = None, None
        elif kind in ("restart", "session_started"):
            effects.steps.append(SessionStarted(timestamp=now))
            slots, active = dict(tracker.initial_slots), None
        elif kind == "reset_slots":
            for name, value in tracker.initial_slots.items():
                if slots.get(name) != value:
                    _slot({"name": name, "value": value}, domain, slots, effects, now)
        elif kind == "pause":
            effects.steps.append(HandoffStarted(timestamp=now, reason=action))
        elif kind == "resume":
            effects.steps = [s for s in effects.steps if not isinstance(s, HandoffStarted)]
        elif kind == "bot":
            message = bot_message(event)
            if message is not None:
                effects.steps.append(message)
        else:
            effects.unsupported.append(kind)
    return effects


def _slot(event: Mapping[str, Any], domain: Domain, slots: dict[str, Any],
          effects: RasaEffects, now: float) -> None:
    name = str(event.get("name"))
    if name not in domain.slots and name != REQUESTED_SLOT:
        effects.unsupported.append(f"slot {name} (not in the domain)")
        return
    slots[name] = event.get("value")
    effects.steps.append(SlotSet(timestamp=now, name=name, value=event.get("value")))


def bot_message(event: Mapping[str, Any]) -> OutgoingMessage | None:
    """A returned ``bot`` event (BotUttered) as a message."""
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    return _message(event.get("text"), data.get("buttons"), data.get("image"), None)


def form_checked(events: Iterable[dict[str, Any]], *, domain: Domain) -> FormChecked:
    """A ``validate_<form>`` action's events, read as Rasa's form reads them."""
    checked = FormChecked()
    for event in events:
        kind = str(event.get("event"))
        name = event.get("name")
        if kind == "slot" and name == REQUESTED_SLOT:
            value = event.get("value")
            checked.ask = (str(value),) if value else ()
        elif kind == "slot" and name in domain.slots:
            checked.values[str(name)] = event.get("value")
        elif kind == "active_loop" and name is None:
            checked.ask = ()
        elif kind == "action_execution_rejected":
            checked.rejected = True
        elif kind == "bot" and (message := bot_message(event)) is not None:
            checked.messages.append(message)
        else:
            checked.unsupported.append(kind if kind != "slot" else f"slot {name}")
    return checked
