"""The staged fallback: what the bot does when, turn after turn, it does not serve the person.

A turn does not serve the person when its message was not understood (``nlu_fallback`` or
``ambiguous``, and no form took it as an answer), when it was out of scope (the intent
``out_of_scope`` answered without filling a form, or the bot said ``utter_out_of_scope``),
when an action failed (``ActionFailed``), or when nothing covered an understood message (the
core fallback ``utter_default``, or a form asking its question again). Such turns in a row
advance one stage, recorded as ``FallbackTriggered`` events (``reason`` says why, empty for
a message not understood), so that a replay agrees; any other turn resets it:

1. a message not understood gets "Did you mean …?" (``utter_did_you_mean``) with the
   intents it plausibly meant (``brain.dialogue.suggestions``), or — none plausible —
   ``utter_please_rephrase``; either with the way out to a person (the turn's action is
   ``action_ask_affirmation`` either way: the stage's name in conversation tests);
2. a message not understood gets ``utter_ask_rephrase`` (``action_ask_rephrase``);
3. a message not understood starts the handoff (``action_handoff``); an understood one
   the bot could not serve gets its own answer, then the offer of a person
   (``action_offer_handoff``: ``utter_offer_handoff`` with the way out), unless that
   answer already offered one.

The other unserved turns say what they say (``utter_out_of_scope`` …) and only count.

**The way out** exists when the bot can hand off: it has a desk (the workers', the shell's
and conversation tests' have one; an engine built without one has none) and
``fallback.yml`` does not say ``handoff: false``. It is a button to the bot's own intent for
a person (the first rule ``intent: X`` → ``action: action_handoff`` without condition, so
desk.yml routes it as if typed), else Parley's ``/handoff_request``. Its label says whether
someone can answer now (the desk's offer): ``handoff_label`` or ``handoff_offline_label``.
A bot that cannot hand off shows no such button and, at stage 3, asks to rephrase again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from brain.dialogue.events import (
    ActionFailed,
    BotUttered,
    Event,
    FallbackTriggered,
    HandoffStarted,
    SlotSet,
)
from brain.dialogue.retrieval import retrieval_actions
from brain.dialogue.rules import Rule
from brain.dialogue.suggestions import suggest
from brain.dialogue.tracker import REQUESTED_SLOT

if TYPE_CHECKING:
    from brain.dialogue.engine import DialogueEngine, _Turn

__all__ = ["FALLBACK_TEXTS", "HANDOFF_REQUEST", "can_hand_off", "count_turn",
           "handoff_button", "handoff_intents", "misunderstood"]

HANDOFF_REQUEST = "handoff_request"  # Parley's payload /handoff_request: a person, please
FALLBACK_TEXTS = {
    "utter_did_you_mean": "Sorry, I'm not sure I understood. Did you mean one of these?",
    "utter_please_rephrase": "Sorry, I didn't understand that. Could you say it in other words?",
    "utter_ask_rephrase": "I still didn't get that. Could you say it in other words?",
    "utter_offer_handoff": "I can't help with this myself, but someone from our team can.",
}
_OUT_OF_SCOPE = "out_of_scope"


def can_hand_off(engine: DialogueEngine) -> bool:
    """Whether a fallback may offer or start a handoff (see the module docstring)."""
    return engine.desk is not None and engine.fallback.handoff


def handoff_intents(rules: Sequence[Rule]) -> list[str]:
    """The intents the bot's rules answer with ``action_handoff`` and nothing before it
    (no condition, no earlier step in the conversation: the intent hands off anywhere)."""
    found: list[str] = []
    for rule in rules:
        steps = rule.steps
        if (not rule.condition and not rule.history and len(steps) >= 2 and rule.intent is not None
                and steps[1].kind == "action" and steps[1].value == "action_handoff"
                and rule.intent not in found):
            found.append(rule.intent)
    return found


def misunderstood(turn: _Turn) -> None:
    """The next stage for a message not understood."""
    stage = min(turn.tracker.fallback_stage + 1, 3)
    turn.apply(FallbackTriggered(timestamp=turn.message.timestamp, stage=stage))
    if stage == 3 and can_hand_off(turn.engine):
        turn.run_action("action_handoff")
    elif stage == 1:
        _did_you_mean(turn)
    else:
        turn.actions.append("action_ask_rephrase")
        turn.utter_or_default("utter_ask_rephrase")


def count_turn(turn: _Turn, begun: int, *, previous: int, handled: bool) -> None:
    """After the turn: reset the count, or advance it from ``previous`` (the stage when the
    turn began) when the turn did not serve the person. ``begun``: the tracker's event
    count before the turn's own events; ``handled``: something covered the message."""
    events = turn.tracker.events_since(begun)
    if any(isinstance(e, FallbackTriggered) and e.stage for e in events):
        return  # a message not understood: ``misunderstood`` counted it
    reason = _unserved(turn, events, handled)
    if reason is None:
        turn.tracker.reset_fallback()
        return
    stage = min(previous + 1, 3)
    turn.apply(FallbackTriggered(timestamp=turn.message.timestamp, stage=stage, reason=reason))
    if stage == 3:
        _offer_handoff(turn)


def handoff_button(turn: _Turn) -> dict[str, str] | None:
    """The way out to a person, or None when the bot cannot hand off."""
    engine = turn.engine
    if not can_hand_off(engine) or engine.desk is None:
        return None
    intent = next(iter(handoff_intents(engine.rules)), None)
    offer = engine.desk.offer(requested_team="", intent=intent or HANDOFF_REQUEST,
                              slots=turn.tracker.slots, channel=turn.channel)
    settings = engine.fallback
    title = settings.handoff_label if offer.available else settings.handoff_offline_label
    return {"title": title, "payload": f"/{intent or HANDOFF_REQUEST}"}


def _did_you_mean(turn: _Turn) -> None:
    engine = turn.engine
    settings = engine.fallback
    retrieval = {name.removeprefix("utter_") for name in
                 retrieval_actions(list(engine.domain.responses))}
    chosen = suggest(turn.message.parse, intents=engine.domain.intents,
                     excluded={*settings.not_suggested, *handoff_intents(engine.rules),
                               HANDOFF_REQUEST},
                     labels=settings.labels, retrieval=retrieval)
    way_out = handoff_button(turn)
    buttons = [s.button() for s in chosen] + ([way_out] if way_out else [])
    turn.actions.append("action_ask_affirmation")  # the stage's name, either way
    # nothing plausible: a request to rephrase, not junk buttons
    turn.utter_or_default("utter_did_you_mean" if chosen else "utter_please_rephrase",
                          buttons=buttons)


def _unserved(turn: _Turn, events: Sequence[Event], handled: bool) -> str | None:
    """Why the turn did not serve the person, or None if it did."""
    if any(isinstance(e, HandoffStarted) for e in events) or turn.change is not None:
        return None
    if any(isinstance(e, ActionFailed) for e in events):
        return "action_failed"
    if not handled:
        return "unhandled"
    said = any(isinstance(e, BotUttered) and e.response == "utter_out_of_scope" for e in events)
    answered = any(isinstance(e, SlotSet) and e.name != REQUESTED_SLOT for e in events)
    if said or (turn.message.intent == _OUT_OF_SCOPE and not answered):
        return _OUT_OF_SCOPE
    return None


def _offer_handoff(turn: _Turn) -> None:
    button = handoff_button(turn)
    if button is None or any(b.get("payload") == button["payload"]
                             for m in turn.messages for b in m.buttons):
        return  # no one to offer, or the turn's answer offered a person already
    turn.actions.append("action_offer_handoff")
    turn.utter_or_default("utter_offer_handoff", buttons=[button])
