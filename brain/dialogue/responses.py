"""Renders domain responses: picks a variation, fills ``{slot}`` placeholders.

Variations are filtered by slot ``condition`` (variations whose conditions hold win over
unconditional ones) and by channel (a channel's own variations win over generic ones);
the pick is random but seeded per conversation and turn, so a
conversation replays identically (and tests are deterministic). A placeholder whose slot
is empty never reaches the user: another variation that can be filled is used, else the
``utter_response_unavailable`` response or a built-in apology, and the error is logged with
the conversation id.

A retrieval action (``utter_faq``, for responses ``utter_faq/ask_hours`` …) is a response
the domain has, though it has no variations of its own: which sub-intent's response it
sends depends on the message (``brain.dialogue.retrieval``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import string
from collections.abc import Mapping
from typing import Any

from brain.actions.context import OutgoingMessage
from brain.dialogue.domain import Domain, ResponseVariation
from brain.dialogue.retrieval import retrieval_actions

__all__ = ["ResponseRenderer", "humanise_intent"]

_log = logging.getLogger("parley.brain.dialogue.responses")
_UNAVAILABLE = "utter_response_unavailable"
_APOLOGY = "Sorry, I can't give you that information right now."


def humanise_intent(name: str) -> str:
    """``check_order_status`` → ``Check order status`` (button titles for intents)."""
    return name.replace("_", " ").strip().capitalize()


class ResponseRenderer:
    def __init__(self, domain: Domain) -> None:
        self._responses = domain.responses
        self._retrieval = retrieval_actions(list(domain.responses))

    def has(self, name: str) -> bool:
        """Whether sending ``name`` can work: a response, or a retrieval action."""
        return name in self._responses or name in self._retrieval

    def is_retrieval(self, name: str) -> bool:
        """``utter_faq`` when the domain has ``utter_faq/…`` responses (as in Rasa, this
        wins over a plain ``utter_faq`` response)."""
        return name in self._retrieval

    def render(self, name: str, *, slots: Mapping[str, Any], channel: str | None,
               seed: str, conversation_id: str, extra: Mapping[str, Any] | None = None
               ) -> OutgoingMessage | None:
        """The message for response ``name``, or ``None`` if the domain has no such response."""
        variations = self._candidates(name, slots, channel)
        if not variations:
            return None
        values = {**slots, **(extra or {})}
        chooser = random.Random(hashlib.sha256(f"{seed}:{name}".encode()).digest())
        chosen = chooser.choice(variations)
        given = frozenset(extra or ())  # an extra value is given even when it is empty
        missing = _missing(chosen, values, given)
        if missing:
            _log.error("conversation %s: response %s needs empty slot(s) %s",
                       conversation_id, name, ", ".join(missing))
            fillable = [v for v in variations if not _missing(v, values, given)]
            if fillable:
                chosen = chooser.choice(fillable)
            elif name != _UNAVAILABLE and self.has(_UNAVAILABLE):
                return self.render(_UNAVAILABLE, slots=slots, channel=channel, seed=seed,
                                   conversation_id=conversation_id)
            else:
                return OutgoingMessage(_APOLOGY, response=name)
        return OutgoingMessage(_fill(chosen.text, values),
                               tuple({"title": _fill(b["title"], values), "payload": b["payload"]}
                                     for b in chosen.buttons),
                               chosen.image, name)

    def _candidates(self, name: str, slots: Mapping[str, Any],
                    channel: str | None) -> list[ResponseVariation]:
        usable = [v for v in self._responses.get(name, ())
                  if all(slots.get(slot) == value for slot, value in v.condition)]
        usable = [v for v in usable if v.condition] or usable  # as in Rasa: conditions win
        own = [v for v in usable if channel is not None and v.channel == channel]
        return own or [v for v in usable if v.channel is None]


def _fields(text: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def _missing(variation: ResponseVariation, values: Mapping[str, Any],
             given: frozenset[str] = frozenset()) -> list[str]:
    names = _fields(variation.text) + [f for b in variation.buttons for f in _fields(b["title"])]
    return sorted({n for n in names if n not in given and values.get(n) in (None, "", [])})


def _fill(text: str, values: Mapping[str, Any]) -> str:
    if not _fields(text):
        return text
    return string.Formatter().vformat(text, (), {k: _show(v) for k, v in values.items()})


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
