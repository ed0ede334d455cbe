"""The bot's side of a handoff to a person: what it tells the user, and what it asks of the desk.

The dialogue decides *that* a conversation goes to a person (``action_handoff`` from a
rule or fallback stage 3, or a custom action's ``HandoffStarted``); the desk (through
``HandoffDesk``, which the workers implement on Redis) says *where* (the team desk.yml
routes it to) and whether anyone is there. The user is told the truth either way:

- agents of the team online and the team open: ``utter_handoff`` with the place in the
  queue and the expected wait;
- nobody online, or outside business hours: ``utter_handoff_unavailable`` — the message
  they leave is kept as an offline ticket agents see, or they go back to the bot (a
  ``Back to the bot`` button, payload ``/handoff_cancel``). Never "someone will reply".

While the conversation waits in a queue the user may withdraw (``/handoff_cancel`` or one
of ``WITHDRAW_INTENTS``) and is back with the bot (``utter_handoff_cancelled``). Once a
person holds it, everything the user writes is theirs. The end of a handoff (a hand-back,
a close, a queue timeout) reaches the bot as an inbox entry of its own, served in order
with the user's messages (``end_handoff``).

A response of the domain overrides each default text below; placeholders
``{handoff_team}``, ``{queue_position}``, ``{expected_wait}`` and ``{team_hours}`` are
filled from the offer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from brain.dialogue.events import BotUttered, HandoffEnded, HandoffStarted, SlotSet, UserUttered

if TYPE_CHECKING:
    from brain.dialogue.engine import _Turn

__all__ = ["CANCEL_PAYLOAD", "HANDOFF_PLACEHOLDERS", "HANDOFF_TEXTS", "WITHDRAW_INTENTS",
           "HandoffChange", "HandoffDesk", "HandoffOffer", "Ownership", "end_handoff",
           "start_handoff", "while_handed_off"]

CANCEL_PAYLOAD = "/handoff_cancel"
WITHDRAW_INTENTS = frozenset({"handoff_cancel", "cancel"})

HANDOFF_TEXTS = {
    "utter_handoff": ("I'm passing this conversation to our {handoff_team} team. You're "
                      "number {queue_position} in the queue{expected_wait}. You can keep "
                      "writing here; they will see everything."),
    "utter_handoff_unavailable": (
        "Nobody from our {handoff_team} team is available right now{team_hours}. You can "
        "leave a message here: it is kept for the team, and they will see it when they are "
        "back. Or go back to the bot."),
    "utter_handoff_message_kept": "Thanks, your message is kept for the team.",
    "utter_handoff_cancelled": "OK, you're back with the bot. How can I help?",
    "utter_handoff_timeout": ("Sorry, nobody from the team could take this chat in time. "
                              "What you wrote is kept for them. I'm back: how can I help?"),
    "utter_handback": "You're back with the bot. Is there anything else I can help with?",
    "utter_handoff_closed": ("This conversation with our team is closed. If you need anything "
                             "else, just write."),
}
HANDOFF_PLACEHOLDERS = frozenset({"handoff_team", "queue_position", "expected_wait",
                                  "team_hours"})
_BACK_TO_BOT = {"title": "Back to the bot", "payload": CANCEL_PAYLOAD}
_END_RESPONSES = {"handed_back": "utter_handback", "closed": "utter_handoff_closed",
                  "timeout": "utter_handoff_timeout"}


@dataclass(frozen=True, slots=True)
class HandoffOffer:
    """What the desk can offer a handoff now: the team it goes to, whether a person of
    that team is there (``available``), the place it would take in the queue and the
    expected wait (seconds, from the team's recent waits; ``None`` when unknown), and the
    team's business hours in words (for the user, when nobody is there)."""

    team: str
    available: bool
    position: int = 1
    wait_seconds: float | None = None
    hours: str = ""


class HandoffDesk(Protocol):
    """The desk as the dialogue sees it (implemented by the workers)."""

    def offer(self, *, requested_team: str, intent: str | None, slots: Mapping[str, Any],
              channel: str | None) -> HandoffOffer: ...


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who holds the conversation when the turn began: ``state`` is ``bot``, ``queued``,
    ``agent`` or ``closed``; ``offline``: the handoff waiting is an offline ticket;
    ``team``: the team it is with."""

    state: Literal["bot", "queued", "agent", "closed"] = "bot"
    epoch: int = 0
    handoff: str = ""
    offline: bool = False
    team: str = ""


BOT = Ownership()


@dataclass(frozen=True, slots=True)
class HandoffChange:
    """A change of owner the turn asks the commit to make: ``requested`` (to ``team``;
    ``offline`` when nobody could take it now) or ``withdrawn`` (the user went back to the
    bot while waiting)."""

    kind: Literal["requested", "withdrawn"]
    team: str = ""
    reason: str = ""
    offline: bool = False


def start_handoff(turn: _Turn, *, reason: str, team: str = "",
                  already_started: bool = False) -> HandoffChange:
    """Tell the user what happens now and record the handoff (``already_started``: a
    custom action applied ``HandoffStarted`` itself)."""
    desk = turn.engine.desk
    tracker = turn.tracker
    if desk is None:  # no desk to ask (the shell, conversation tests): a queue of one
        offer = HandoffOffer(team=team or "support", available=True)
    else:
        offer = desk.offer(requested_team=team, intent=turn.message.intent,
                           slots=tracker.slots, channel=turn.channel)
    extra = {"handoff_team": offer.team, "queue_position": offer.position,
             "expected_wait": _wait_words(offer.wait_seconds),
             "team_hours": f"; the team's hours are {offer.hours}" if offer.hours else ""}
    if offer.available:
        turn.utter_or_default("utter_handoff", extra=extra)
    else:
        turn.utter_or_default("utter_handoff_unavailable", extra=extra, buttons=[_BACK_TO_BOT])
    if not already_started:
        turn.apply(HandoffStarted(timestamp=turn.message.timestamp, reason=reason,
                                  team=offer.team))
    return HandoffChange("requested", team=offer.team, reason=reason,
                         offline=not offer.available)


def while_handed_off(turn: _Turn, message: UserUttered, owner: Ownership
                     ) -> HandoffChange | None:
    """A user message while a person has (or is about to have) the conversation: silent,
    except a withdrawal while it still waits, and one acknowledgement of a message left
    on an offline ticket."""
    if owner.state != "queued":
        return None
    if message.intent in WITHDRAW_INTENTS:
        turn.actions.append("action_handoff_cancel")
        turn.apply(HandoffEnded(timestamp=message.timestamp, reason="withdrawn"))
        turn.utter_or_default("utter_handoff_cancelled")
        return HandoffChange("withdrawn")
    if owner.offline and not _acknowledged_since_handoff(turn):
        turn.utter_or_default("utter_handoff_message_kept")
    return None


def end_handoff(turn: _Turn, control: Mapping[str, Any]) -> None:
    """The desk gave the conversation back (``control``: ``reason``, a hand-back's
    ``slots`` and ``restart_form``): the bot speaks again, and says so."""
    reason = str(control.get("reason") or "handed_back")
    tracker = turn.tracker
    if not tracker.handoff:
        return  # ended already (a withdrawal crossed the desk's operation)
    turn.apply(HandoffEnded(timestamp=turn.message.timestamp, reason=reason))
    slots = control.get("slots")
    if isinstance(slots, Mapping):
        for name, value in slots.items():
            if name in turn.engine.domain.slots:
                turn.apply(SlotSet(timestamp=turn.message.timestamp, name=name, value=value))
    turn.utter_or_default(_END_RESPONSES.get(reason, "utter_handback"))
    if control.get("restart_form") and tracker.active_form:
        turn.run_action(tracker.active_form)


def _acknowledged_since_handoff(turn: _Turn) -> bool:
    for event in reversed(turn.tracker.events):
        if isinstance(event, HandoffStarted):
            return False
        if isinstance(event, BotUttered) and event.response == "utter_handoff_message_kept":
            return True
    return False


def _wait_words(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = max(1, round(seconds / 60))
    return f"; the wait is about {minutes} minute{'s' if minutes != 1 else ''}"
