"""Retrieval intents (Rasa's ResponseSelector pattern): ``faq/ask_hours`` examples, one
``faq`` intent for the dialogue, the sub-intent's response ``utter_faq/ask_hours``.

How sub-intents are classified: the intent classifier is trained on the full labels
(``faq/ask_hours`` is a class of its own) and the parse folds them up: ``faq``'s confidence
is the sum of its sub-intents' probabilities, and each sub-intent's confidence within
``faq`` is its share of that sum. Measured on CLINC150 with two of its domains as retrieval
intents (``bench/nlu_retrieval.py``), this was as accurate as a second classifier per
retrieval intent (sub-intent accuracy 0.952 vs 0.951 at 100 examples per intent, 0.862 vs
0.867 at 10; intent accuracy higher) at half the CPU of a parse that runs every
selector, and it needs no model state beyond the classifier's labels.

The parse carries what Rasa's ``response_selector`` field carries: one entry per retrieval
intent, plus ``default`` (the best sub-intent over all retrieval intents, which is what a
Rasa ResponseSelector without ``retrieval_intent`` writes), and the intent gets
``full_retrieval_intent_name`` as Rasa's processor adds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from brain.errors import BotDataError
from brain.yaml_source import YamlMap, load_yaml_file

__all__ = [
    "DEFAULT_SELECTOR",
    "DELIMITER",
    "RetrievalLabels",
    "full_retrieval_intent",
    "intent_as_written",
    "read_retrieval_responses",
    "retrieval_payload",
    "split_intent",
]

DELIMITER = "/"
DEFAULT_SELECTOR = "default"  # Rasa's key for a selector trained on every retrieval intent
_RANKING_SIZE = 10


def split_intent(name: str) -> tuple[str, str | None]:
    """``faq/ask_hours`` → ``("faq", "ask_hours")``; ``greet`` → ``("greet", None)``."""
    base, _, key = name.partition(DELIMITER)
    return base, key or None


class RetrievalLabels:
    """The classifier's labels, grouped: which are sub-intents of which retrieval intent.

    Built once per model; ``fold`` and ``selector`` run on every parse, so they only
    walk label positions worked out here (together ~0.05 ms a parse for 150 labels,
    measured)."""

    def __init__(self, labels: Sequence[str],
                 responses: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
        self.labels = list(labels)
        self.bases = [split_intent(label)[0] for label in self.labels]
        self.retrieval_intents = sorted({b for b, label in zip(self.bases, self.labels,
                                                                strict=True) if b != label})
        self._responses = {name: [dict(v) for v in variations]
                           for name, variations in (responses or {}).items()}
        # label positions of each retrieval intent's sub-intents, and of all of them
        self._members = {intent: [i for i, b in enumerate(self.bases)
                                  if b == intent and self.labels[i] != intent]
                         for intent in self.retrieval_intents}
        self._subs = sorted(i for members in self._members.values() for i in members)

    def __bool__(self) -> bool:
        return bool(self.retrieval_intents)

    @property
    def intents(self) -> list[str]:
        """The intents the dialogue sees: retrieval intents once, not their sub-intents."""
        return sorted(set(self.bases))

    def fold(self, probabilities: Sequence[float]) -> dict[str, float]:
        """Intent → confidence, a retrieval intent's being the sum of its sub-intents'."""
        folded: dict[str, float] = {}
        for base, probability in zip(self.bases, probabilities, strict=True):
            folded[base] = folded.get(base, 0.0) + probability
        return folded

    def selector(self, probabilities: Sequence[float]) -> dict[str, Any]:
        """The parse's ``response_selector``, in Rasa's shape."""
        result: dict[str, Any] = {"all_retrieval_intents": list(self.retrieval_intents)}
        for intent, members in self._members.items():
            result[intent] = self._prediction(members, probabilities)
        result[DEFAULT_SELECTOR] = self._prediction(self._subs, probabilities)
        return result

    def empty_selector(self) -> dict[str, Any]:
        """``response_selector`` of a message nothing was predicted for (empty text)."""
        return {"all_retrieval_intents": list(self.retrieval_intents)}

    def _prediction(self, members: list[int], probabilities: Sequence[float]) -> dict[str, Any]:
        """The best of ``members`` (label positions), confidences renormalised over them
        as a selector of just those labels would give them."""
        total = sum(probabilities[i] for i in members) or 1.0
        ranking = sorted(((self.labels[i], probabilities[i] / total) for i in members),
                         key=lambda kp: -kp[1])
        key, confidence = ranking[0]
        action = f"utter_{key}"
        return {
            # copies: a parse is the caller's to change, the model's responses are not
            "response": {"responses": [dict(v) for v in self._responses.get(action, ())],
                         "confidence": round(confidence, 4), "intent_response_key": key,
                         "utter_action": action},
            "ranking": [{"confidence": round(p, 4), "intent_response_key": k}
                        for k, p in ranking[:_RANKING_SIZE]],
        }


def full_retrieval_intent(parse: Mapping[str, Any]) -> str | None:
    """``faq/ask_hours`` when the parse's intent is a retrieval intent with a selected
    sub-intent, else the intent itself (Rasa's ``_get_full_retrieval_intent``)."""
    intent: Mapping[str, Any] = parse.get("intent") or {}
    name = intent.get("name")
    selector: Mapping[str, Any] = parse.get("response_selector") or {}
    if name is None or name not in selector.get("all_retrieval_intents", ()):
        return name if name is None else str(name)
    chosen = selector.get(name) or selector.get(DEFAULT_SELECTOR) or {}
    key = chosen.get("response", {}).get("intent_response_key")
    return str(key) if key else str(name)


def intent_as_written(parse: Mapping[str, Any], expected: str) -> str | None:
    """The parse's intent in the form ``expected`` uses: the full retrieval intent for an
    expectation such as ``faq/ask_hours``, the intent alone for ``faq`` (as Rasa's test
    stories compare them)."""
    name = (parse.get("intent") or {}).get("name")
    if DELIMITER in expected:
        return full_retrieval_intent(parse)
    return None if name is None else str(name)


def retrieval_payload(parse: dict[str, Any]) -> dict[str, Any]:
    """A button payload's parse with a full retrieval intent (``/faq/ask_hours``) made
    into what the NLU would give: intent ``faq``, that sub-intent selected, certain."""
    name = str((parse.get("intent") or {}).get("name") or "")
    base, key = split_intent(name)
    if key is None:
        return parse
    selected = {"response": {"responses": [], "confidence": 1.0, "intent_response_key": name,
                             "utter_action": f"utter_{name}"},
                "ranking": [{"confidence": 1.0, "intent_response_key": name}]}
    return {**parse,
            "intent": {"name": base, "confidence": 1.0, "full_retrieval_intent_name": name},
            "intent_ranking": [{"name": base, "confidence": 1.0}],
            "response_selector": {"all_retrieval_intents": [base], base: selected,
                                  DEFAULT_SELECTOR: selected}}


def read_retrieval_responses(bot_dir: Path) -> dict[str, tuple[dict[str, Any], ...]]:
    """The domain's responses for sub-intents (``utter_faq/ask_hours``), as plain data:
    what the parse's ``response_selector`` lists, as Rasa's does. A domain that cannot be
    read gives none here; reading the domain reports why."""
    path = bot_dir / "domain.yml"
    if not path.is_file():
        return {}
    try:
        document = load_yaml_file(path, display_path=str(path))
    except BotDataError:
        return {}
    responses = document.get("responses") if isinstance(document, YamlMap) else None
    if not isinstance(responses, Mapping):
        return {}
    return {str(name): tuple(_plain(v) for v in variations if isinstance(v, Mapping))
            for name, variations in responses.items()
            if DELIMITER in str(name) and isinstance(variations, list)}


def _plain(value: Any) -> Any:
    """YAML nodes as JSON-shaped dicts and lists (they go into meta.json and parses)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
