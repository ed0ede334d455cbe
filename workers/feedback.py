"""Feedback from users: the one place that knows a rating, its buttons and when to ask.

A rating reaches a worker as an inbox entry in one of two ways:

- kind ``"feedback"`` with ``control`` a ``channels.models.Rating`` as plain data (the web
  widget's thumbs, the website webhook's ``feedback`` body);
- kind ``"message"`` whose ``payload`` is a rating button's (Slack, Telegram, WhatsApp)::

      /parley_feedback{"k":"t","v":1,"s":12,"p":0}

  ``k`` ``t`` (thumbs; ``v`` 1 up, 0 down) or ``c`` (CSAT; ``v`` 1–5), ``s`` the inbox
  sequence of the turn asked about, ``p`` the position of the reply in it (absent for a
  CSAT). It fits Telegram's 64-byte ``callback_data`` (44 bytes as shown; 62 at the
  largest sequence and position a rating takes), is a Slack button ``value`` as it is,
  and on WhatsApp the numbered answer ("1") maps back to it at the gateway
  (``gateway.whatsapp.state``).

Either way the turn gets no NLU and no dialogue (``feedback_entry`` gives the message as
the turn record stores it: kind ``"feedback"``, ``control`` the checked rating, ``{}`` for
a malformed one, which is logged and answered with nothing). A pressed button is thanked
(``feedback.yml``'s ``thanks``, if set); the widget and the webhook get no reply.

When to ask (``question_after``, from ``feedback.yml``; ``brain.feedback_settings``), at
most one question per turn, appended after the turn's replies, never while a person or a
queue has the conversation, never on the browser chat (its widget shows thumbs), and not
after a reply that already offers buttons or asks for a form's slot (the person is
answering something else; on WhatsApp a new numbered list would replace the first):

- the satisfaction question (1–5) after a handoff a person handed back or closed
  (``after_handoff``), or after a marked conversation-ending reply (``after``);
- else "Was this helpful?" (👍 / 👎) after the reply of a marked response or action, about
  that reply (the last marked one of the turn).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from brain.actions.context import OutgoingMessage
from brain.bot import parse_payload
from brain.dialogue.engine import TurnResult
from brain.dialogue.events import ActionExecuted, BotUttered, Event, HandoffEnded
from brain.dialogue.tracker import Tracker
from brain.feedback_settings import ASKABLE_CHANNELS, FeedbackSettings, Question
from channels.models import InboundMessage, InvalidRating, Rating, rating_from

__all__ = ["CSAT_RESPONSE", "HELPFUL_RESPONSE", "PAYLOAD_PREFIX", "THANKS_RESPONSE",
           "FeedbackEntry",
           "answer_feedback", "button_payload", "csat_question", "feedback_entry",
           "helpful_question", "question_after", "rating_of_payload", "with_question"]

_log = logging.getLogger("parley.workers.feedback")
PAYLOAD_PREFIX = "/parley_feedback"
# The names the questions go by in the tracker and the archive (``BotUttered.response``).
HELPFUL_RESPONSE = "parley_feedback_helpful"
CSAT_RESPONSE = "parley_feedback_csat"
THANKS_RESPONSE = "parley_feedback_thanks"
_KINDS = {"t": "thumbs", "c": "csat"}
_LETTERS = {kind: letter for letter, kind in _KINDS.items()}
_THUMBS = (("👍 Yes", 1), ("👎 No", 0))
# Handoffs a person answered (not a queue timeout, nor the person going back to the bot).
_CSAT_AFTER = frozenset({"handed_back", "closed"})


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """An inbox entry that is a rating: ``message`` as the turn records it (kind
    ``"feedback"``, ``control`` the checked rating or ``{}``), and how it came."""

    message: InboundMessage
    rating: Rating | None  # None: malformed (logged; answered with nothing)
    from_button: bool


def button_payload(kind: str, value: int, sequence: int, position: int | None) -> str:
    """The payload of a rating button (module doc), compact for Telegram's 64 bytes."""
    fields: dict[str, Any] = {"k": _LETTERS[kind], "v": value, "s": sequence}
    if position is not None:
        fields["p"] = position
    return PAYLOAD_PREFIX + json.dumps(fields, separators=(",", ":"))


def rating_of_payload(payload: str) -> Rating | None:
    """The rating a button payload carries; None if it is no rating button's. A payload
    that starts like one but is malformed raises ``InvalidRating``."""
    if not payload.startswith(PAYLOAD_PREFIX):
        return None
    rest = payload[len(PAYLOAD_PREFIX):]
    if rest[:1].isalnum() or rest[:1] in ("_", "-", ".", "/"):
        return None  # another intent that merely starts the same: /parley_feedbackish
    parsed = parse_payload(payload)  # a button's payload, as the bot reads every one
    if parsed is None:
        raise InvalidRating("invalid feedback button: its fields are not a JSON object")
    fields = {e["entity"]: e["value"] for e in parsed["entities"]}
    if set(fields) - {"k", "v", "s", "p"}:
        raise InvalidRating("invalid feedback button: expected the fields k, v, s, p")
    kind = _KINDS.get(fields.get("k"))  # type: ignore[arg-type]
    if kind is None:
        raise InvalidRating("invalid feedback button: 'k' is 't' (thumbs) or 'c' (csat)")
    return rating_from({"kind": kind, "value": fields.get("v"),
                        "about_sequence": fields.get("s"), "about_position": fields.get("p")})


def feedback_entry(message: InboundMessage) -> FeedbackEntry | None:
    """``message`` as a rating, or None if it is none (then it is served as usual)."""
    from_button = message.kind == "message" and message.payload is not None and \
        message.payload.startswith(PAYLOAD_PREFIX)
    if message.kind != "feedback" and not from_button:
        return None
    try:
        rating = rating_of_payload(message.payload or "") if from_button else \
            rating_from(message.control)
        if rating is None:
            return None  # not a rating button after all
        _check_about(rating, message.sequence)
    except InvalidRating as exc:
        _log.warning("conversation %s: feedback #%d ignored: %s", message.conversation_id,
                     message.sequence, exc)
        rating = None
    control = rating.to_control() if rating is not None else {}
    return FeedbackEntry(msgspec.structs.replace(message, kind="feedback", control=control),
                         rating, from_button)


def _check_about(rating: Rating, sequence: int) -> None:
    """A rating is about a turn before its own (the entry's sequence is known: > 0)."""
    if rating.about_sequence is not None and 0 < sequence <= rating.about_sequence:
        raise InvalidRating(f"invalid feedback: about turn #{rating.about_sequence}, which "
                            f"is not before this one (#{sequence})")


def answer_feedback(entry: FeedbackEntry, settings: FeedbackSettings, tracker: Tracker, *,
                    now: float) -> TurnResult:
    """The turn of a rating: no NLU, no dialogue (no ``UserUttered``); the thanks for a
    pressed button (recorded as the bot's message), unless a person or a queue has the
    conversation."""
    if entry.rating is None or not entry.from_button or not settings.thanks or \
            tracker.handoff:
        return TurnResult((), ())
    thanks = OutgoingMessage(settings.thanks, response=THANKS_RESPONSE)
    tracker.apply(BotUttered(timestamp=now, text=thanks.text, response=thanks.response))
    return TurnResult((thanks,), ())


def helpful_question(question: str, sequence: int, position: int) -> OutgoingMessage:
    """"Was this helpful?" with 👍 / 👎, about reply ``position`` of turn ``sequence``."""
    buttons = tuple({"title": title, "payload": button_payload("thumbs", value, sequence,
                                                               position)}
                    for title, value in _THUMBS)
    return OutgoingMessage(question, buttons, response=HELPFUL_RESPONSE)


def csat_question(question: str, sequence: int) -> OutgoingMessage:
    """The 1–5 question, about the conversation as of turn ``sequence``."""
    buttons = tuple({"title": str(value), "payload": button_payload("csat", value, sequence,
                                                                    None)}
                    for value in range(1, 6))
    return OutgoingMessage(question, buttons, response=CSAT_RESPONSE)


def question_after(settings: FeedbackSettings, message: InboundMessage, tracker: Tracker,
                   events: Sequence[Event], result: TurnResult) -> OutgoingMessage | None:
    """The question to append to the turn that served ``message`` (module doc), if any;
    ``events`` are those the turn added to ``tracker``."""
    if message.kind in ("feedback", "agent_message") or tracker.handoff or \
            result.handoff is not None or not result.messages or \
            message.channel not in ASKABLE_CHANNELS:
        return None
    if result.messages[-1].buttons or tracker.active_form:
        return None
    csat = settings.satisfaction
    if csat is not None and csat.asks_on(message.channel) and (
            (csat.after_handoff and _handoff_ended(events))
            or _marked_position(csat, events, len(result.messages)) is not None):
        return csat_question(csat.question, message.sequence)
    helpful = settings.helpful
    if helpful is not None and helpful.asks_on(message.channel):
        position = _marked_position(helpful, events, len(result.messages))
        if position is not None:
            return helpful_question(helpful.question, message.sequence, position)
    return None


def with_question(settings: FeedbackSettings, message: InboundMessage, tracker: Tracker,
                  events: Sequence[Event], result: TurnResult, *, now: float) -> TurnResult:
    """``result`` with the question ``question_after`` decides on appended (and recorded
    in ``tracker`` as the bot's message, so the transcript shows it)."""
    question = question_after(settings, message, tracker, events, result)
    if question is None:
        return result
    tracker.apply(BotUttered(timestamp=now, text=question.text, buttons=question.buttons,
                             response=question.response))
    return TurnResult((*result.messages, question), result.actions, result.handoff)


def _handoff_ended(events: Sequence[Event]) -> bool:
    return any(isinstance(e, HandoffEnded) and e.reason in _CSAT_AFTER for e in events)


def _marked_position(question: Question, events: Sequence[Event], replies: int) -> int | None:
    """The position of the turn's last reply made by a marked response or action; a
    marked action that said nothing itself makes it the turn's last reply before it."""
    position, action, found = -1, None, None
    for event in events:
        if isinstance(event, ActionExecuted):
            action = event.name
            if action in question.after and position >= 0:
                found = position
        elif isinstance(event, BotUttered):
            position += 1
            if event.response in question.after or action in question.after:
                found = position
    return found if found is not None and found < replies else None
