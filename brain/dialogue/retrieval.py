"""``utter_faq``: the response of the sub-intent the NLU selected for the latest message.

This is Rasa's ``ActionRetrieveResponse``: an action named after a retrieval intent
(``utter_faq``, for the domain's ``utter_faq/ask_hours`` … responses) reads the latest
user message's ``response_selector`` (``brain.nlu.retrieval``), first under ``faq``, else
under ``default``, and sends the response its ``utter_action`` names. A message without
that selection (a plain ``/faq`` button, a model trained before the sub-intent existed) or
a selected sub-intent the domain has no response for cannot be answered: the turn takes the
action-failed path (``ActionFailed``, ``utter_action_failed``), logged with the
conversation id, and the conversation goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from brain.dialogue.events import ActionFailed
from brain.nlu.retrieval import DEFAULT_SELECTOR, DELIMITER

if TYPE_CHECKING:
    from brain.dialogue.engine import _Turn

__all__ = ["matches_story_action", "retrieval_actions", "selected_response", "utter_retrieved"]

_log = logging.getLogger("parley.brain.dialogue.retrieval")


def retrieval_actions(responses: Sequence[str]) -> frozenset[str]:
    """``utter_faq`` for every response named ``utter_faq/…``."""
    return frozenset(name.split(DELIMITER, 1)[0] for name in responses if DELIMITER in name)


def selected_response(parse: Mapping[str, Any], action: str) -> str | None:
    """The response ``action`` (``utter_faq``) sends for this parse, as Rasa picks it."""
    selector: Mapping[str, Any] = parse.get("response_selector") or {}
    intent = action.removeprefix("utter_")
    chosen = selector.get(intent) or selector.get(DEFAULT_SELECTOR)
    if not isinstance(chosen, Mapping):
        return None
    name = (chosen.get("response") or {}).get("utter_action")
    return str(name) if name else None


def utter_retrieved(turn: _Turn, action: str) -> None:
    """Send the selected sub-intent's response, or take the action-failed path."""
    message = turn.tracker.latest_message
    response = selected_response(message.parse if message else {}, action)
    if response is not None and response.startswith(action + DELIMITER) and turn.utter(response):
        return
    reason = (f"no sub-intent of '{action.removeprefix('utter_')}' selected for the latest "
              "message" if response is None else f"no response {response} in the domain")
    _log.error("conversation %s: %s cannot answer: %s", turn.tracker.conversation_id, action,
               reason)
    turn.apply(ActionFailed(timestamp=turn.message.timestamp, name=action, error=reason))
    turn.utter_or_default("utter_action_failed")


def matches_story_action(expected: str, actual: str, responses: Sequence[str | None]) -> bool:
    """A test story's ``action: utter_faq/ask_hours`` matches the turn's ``utter_faq`` when
    that response was sent (Rasa's test stories name retrieval actions either way)."""
    if expected == actual:
        return True
    return expected.startswith(actual + DELIMITER) and expected in responses
