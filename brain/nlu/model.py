"""A trained NLU model and the one thing it does: ``parse(text)``.

The parse contract (also what ``parley nlu parse`` prints, one JSON object per line):

    {"text": "...",
     "intent": {"name": "check_order_status", "confidence": 0.93},
     "intent_ranking": [{"name": ..., "confidence": ...}, ...],      # top 10
     "entities": [{"entity", "value", "text", "start", "end", "confidence", "extractor"}],
     "nlu_fallback": false,     # top confidence below fallback_threshold (or empty text)
     "ambiguous": false,        # top1 − top2 below ambiguity_threshold
     "fallback_reason": null}   # "empty" | "low_confidence" | "ambiguous" | null

A model with retrieval intents (``faq/ask_hours`` examples, ``brain.nlu.retrieval``) names
the retrieval intent in ``intent`` and the rankings, with its summed confidence; the intent
also gets ``"full_retrieval_intent_name": "faq/ask_hours"``, and the parse a
``response_selector`` in Rasa's shape:

    "response_selector": {"all_retrieval_intents": ["faq"],
        "faq": {"response": {"responses": [{"text": ...}], "confidence": 0.91,
                             "intent_response_key": "faq/ask_hours",
                             "utter_action": "utter_faq/ask_hours"},
                "ranking": [{"confidence": 0.91, "intent_response_key": "faq/ask_hours"}]},
        "default": {...}}       # the same over every retrieval intent's sub-intents

An ``out_of_scope`` prediction is an understood message, not a fallback: the dialogue
answers it as such. ``confidence`` is ``null`` for spaCy NER entities: the greedy
transition-based NER computes no span probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from spacy.language import Language
from spacy.tokens import Doc

from brain.nlu.config import NluConfig
from brain.nlu.entity_rules import LOOKUP_ID, REGEX_ID
from brain.nlu.intent_classifier import IntentClassifier
from brain.nlu.retrieval import RetrievalLabels
from brain.nlu.values import ValueSettings, extract_values, warm_up

__all__ = ["NluModel", "ParseResult"]

ParseResult = dict[str, Any]
_RANKING_SIZE = 10
_EXTRACTORS = {REGEX_ID: "regex", LOOKUP_ID: "entity_ruler"}


@dataclass
class NluModel:
    """A trained pipeline with the settings and metadata it was trained with."""

    nlp: Language
    config: NluConfig
    synonyms: Mapping[str, str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._value_settings = ValueSettings(
            dimensions=frozenset(self.config.values), timezone=self.config.timezone,
            default_currency=self.config.default_currency)
        self._zone = ZoneInfo(self.config.timezone)
        if "time" in self._value_settings.dimensions:
            warm_up(self.config.timezone)  # dateparser's first call costs ~80 ms: pay it here
        labels: list[str] = []
        if "parley_intent_classifier" in self.nlp.pipe_names:
            labels = cast(IntentClassifier, self.nlp.get_pipe("parley_intent_classifier")).labels
        self._retrieval = RetrievalLabels(labels, self.meta.get("retrieval_responses") or {})

    @property
    def version(self) -> str:
        """The id the archive names this model by (``brain.nlu.model_store.model_id``);
        empty for a model never saved."""
        return str(self.meta.get("model_id") or "")

    @property
    def intents(self) -> list[str]:
        """The intents a parse can name (a retrieval intent once, not its sub-intents)."""
        return self._retrieval.intents

    @property
    def retrieval_intents(self) -> list[str]:
        return list(self._retrieval.retrieval_intents)

    def parse(self, text: str, *, reference_time: datetime | None = None) -> ParseResult:
        """Understand one message; relative dates resolve against ``reference_time``."""
        if not text.strip():
            empty = _empty_parse(text)
            if self._retrieval:
                empty["response_selector"] = self._retrieval.empty_selector()
            return empty
        doc = self.nlp(text)
        probabilities = list(doc.cats.values())  # in the classifier's label order
        cats = self._retrieval.fold(probabilities) if self._retrieval else doc.cats
        ranking = sorted(cats.items(), key=lambda kv: kv[1], reverse=True)
        top_name, top = ranking[0]
        second = ranking[1][1] if len(ranking) > 1 else 0.0
        low = top < self.config.fallback_threshold
        ambiguous = (top - second) < self.config.ambiguity_threshold
        reason = "low_confidence" if low else "ambiguous" if ambiguous else None
        result: ParseResult = {
            "text": text,
            "intent": {"name": top_name, "confidence": round(top, 4)},
            "intent_ranking": [{"name": n, "confidence": round(c, 4)}
                               for n, c in ranking[:_RANKING_SIZE]],
            "entities": self._entities(doc, reference_time),
            "nlu_fallback": low,
            "ambiguous": ambiguous,
            "fallback_reason": reason,
        }
        if self._retrieval:
            selector = self._retrieval.selector(probabilities)
            result["response_selector"] = selector
            if top_name in self._retrieval.retrieval_intents:
                key = selector[top_name]["response"]["intent_response_key"]
                result["intent"]["full_retrieval_intent_name"] = key
        return result

    def _entities(self, doc: Doc, reference_time: datetime | None) -> list[dict[str, Any]]:
        """Entities of all extractors. Rules (regex, lookup) beat values, which beat the
        NER: a statistical span overlapping a normalised date or amount is dropped."""
        rules = [self._entity(s) for s in doc.ents if s.ent_id_]
        learned = [self._entity(s) for s in doc.ents if not s.ent_id_]
        values: list[dict[str, Any]] = []
        if self._value_settings.dimensions:
            when = reference_time or datetime.now(self._zone)
            values = [{"entity": v.entity, "value": v.value, "text": v.text, "start": v.start,
                       "end": v.end, "confidence": 1.0, "extractor": "parley_values"}
                      for v in extract_values(doc.text, reference_time=when,
                                              settings=self._value_settings)]
        found = list(rules)
        for candidate in (*values, *learned):
            if not any(_overlap(candidate, kept) for kept in found):
                found.append(candidate)
        return sorted(found, key=lambda e: (e["start"], e["end"]))

    def _entity(self, span: Any) -> dict[str, Any]:
        extractor = _EXTRACTORS.get(span.ent_id_, "ner")
        value = self.synonyms.get(span.text.lower(), span.text)
        case = self.config.entity_case.get(span.label_)
        if case == "upper":
            value = value.upper()
        elif case == "lower":
            value = value.lower()
        return {"entity": span.label_, "value": value, "text": span.text,
                "start": span.start_char, "end": span.end_char,
                "confidence": None if extractor == "ner" else 1.0, "extractor": extractor}


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def _empty_parse(text: str) -> ParseResult:
    return {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [],
            "entities": [], "nlu_fallback": True, "ambiguous": False, "fallback_reason": "empty"}
