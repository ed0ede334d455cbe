"""The "Did you mean …?" choice: which intents of a misunderstood message to offer as buttons.

At most ``MAX_SUGGESTIONS`` intents, best first, each one the user could plausibly have
meant and can act on:

- plausible: a confidence of at least ``RELATIVE_FLOOR`` of the top one and at least
  ``ABSOLUTE_FLOOR`` (for nonsense, a classifier over a dozen intents spreads 0.1–0.3 over
  greetings and small talk; 0.2 keeps those guesses out, a typo'd request at 0.4 in);
- an intent of the domain, not a ``MIN_INTENTS`` one (answers, greetings, meta intents: a
  button "Affirm" or "Goodbye" is never what someone who was not understood meant), not
  one the bot folder marks ``not_suggested``, and not a request for a person (the way-out
  button after the suggestions is that);
- a retrieval intent (``faq``) only with the sub-intent the NLU selected, whose payload
  ``/faq/ask_hours`` answers it (a bare ``/faq`` could not);
- no two buttons for one intent or one meaning: labels (or intent names) made of the same
  words, ignoring case, order, plurals and filler words, count as one
  ("Request a refund" / "Request refund", ``request_refund`` / ``refund_request``).

An empty choice means: ask the person to rephrase instead of offering junk.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from brain.dialogue.responses import humanise_intent
from brain.nlu.retrieval import DELIMITER

__all__ = ["ABSOLUTE_FLOOR", "MAX_SUGGESTIONS", "META_INTENTS", "RELATIVE_FLOOR",
           "Suggestion", "suggest"]

MAX_SUGGESTIONS = 3
RELATIVE_FLOOR = 0.5
ABSOLUTE_FLOOR = 0.2
# Never offered: what a person says to move a conversation along rather than to ask for
# something (Rasa's init project and the usual Rasa bots name them so), and Rasa's own
# pseudo-intents.
META_INTENTS = frozenset({
    "affirm", "deny", "greet", "goodbye", "thanks", "thankyou", "cancel", "stop",
    "restart", "inform", "chitchat", "bot_challenge", "out_of_scope", "nlu_fallback",
    "handoff_cancel", "session_start", "back"})
_FILLER = frozenset({"a", "an", "the", "my", "your", "our", "to", "for", "of", "on", "in",
                     "please", "i", "me", "want", "would", "like", "can", "you", "is", "do"})
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")  # "where's" is one word


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One button: the intent (or ``faq/ask_hours``) it stands for, its label, payload."""

    intent: str
    title: str
    payload: str

    def button(self) -> dict[str, str]:
        return {"title": self.title, "payload": self.payload}


def suggest(parse: Mapping[str, Any], *, intents: Collection[str],
            excluded: Collection[str] = (), labels: Mapping[str, str] | None = None,
            retrieval: Collection[str] = ()) -> list[Suggestion]:
    """The buttons for ``parse`` (see the module docstring). ``intents``: the domain's;
    ``excluded``: the bot's not-suggested and handoff intents; ``retrieval``: its
    retrieval intents."""
    labels = labels or {}
    chosen: list[Suggestion] = []
    seen: set[frozenset[str]] = set()
    for name in _plausible(parse):
        if name in META_INTENTS or name in excluded or name not in intents:
            continue
        key = _selected_sub_intent(parse, name) if name in retrieval else name
        if key is None:
            continue
        title = labels.get(key) or labels.get(name) or humanise_intent(key.split(DELIMITER)[-1])
        meanings = {_meaning(title), _meaning(key.replace("_", " "))} - {frozenset()}
        if meanings & seen:
            continue
        seen |= meanings
        chosen.append(Suggestion(key, title, f"/{key}"))
        if len(chosen) == MAX_SUGGESTIONS:
            break
    return chosen


def _plausible(parse: Mapping[str, Any]) -> Iterator[str]:
    ranking = [r for r in parse.get("intent_ranking") or () if r.get("name")]
    ranking.sort(key=lambda r: -float(r.get("confidence") or 0.0))
    if not ranking:
        return
    floor = max(ABSOLUTE_FLOOR, RELATIVE_FLOOR * float(ranking[0].get("confidence") or 0.0))
    for entry in ranking:
        if float(entry.get("confidence") or 0.0) >= floor:
            yield str(entry["name"])


def _selected_sub_intent(parse: Mapping[str, Any], intent: str) -> str | None:
    """``faq/ask_hours`` when the NLU selected that sub-intent of ``intent``."""
    selector = (parse.get("response_selector") or {}).get(intent)
    if not isinstance(selector, Mapping):
        return None
    key = (selector.get("response") or {}).get("intent_response_key")
    return str(key) if isinstance(key, str) and key.startswith(intent + DELIMITER) else None


def _meaning(text: str) -> frozenset[str]:
    """The words that carry a label's meaning: ``Request a refund`` → {request, refund}."""
    words = [w for w in (re.split("['’]", w)[0] for w in _WORD.findall(text.lower()))
             if w not in _FILLER]
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)
