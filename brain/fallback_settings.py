"""How the bot's fallback speaks to a person, from the optional ``fallback.yml`` of its folder.

A Parley extension (Rasa has no such file)::

    labels:                          # the "Did you mean …?" button of each intent
      request_refund: Request a refund
      faq/ask_hours: Opening hours   # a retrieval intent's sub-intent
    not_suggested: [chitchat]        # never offered, beside Parley's own list
    handoff: true                    # false: fallbacks never offer or start a handoff
    handoff_label: Talk to a person  # the way-out button while someone can answer
    handoff_offline_label: Leave a message for our team   # while nobody can

An intent without a label is shown as its first training example that names no entity
(so no one's order number becomes a button) and fits a button, e.g. "Where is my order",
else as its humanised name. Every defect is a ``Problem`` naming file and line, all
reported together (``BotDataError``); given the intents the bot knows, an unknown one is
one too, since it could never be suggested.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from brain.errors import BotDataError, Problem
from brain.nlu.training_data import TrainingData, load_training_data
from brain.yaml_source import FileProblems, YamlMap, load_parley_file

__all__ = ["FALLBACK_FILE", "LABEL_LIMIT", "FallbackSettings", "example_labels",
           "load_bot_fallback_settings", "load_fallback_settings", "validate_fallback"]

_log = logging.getLogger("parley.brain.fallback_settings")

FALLBACK_FILE = "fallback.yml"
LABEL_LIMIT = 75  # Slack's limit for a button's text; the strictest of the channels
_EXAMPLE_LABEL_LIMIT = 40  # a longer example reads as a sentence, not as a choice
_KEYS = ("labels", "not_suggested", "handoff", "handoff_label", "handoff_offline_label")
_LONE_I = re.compile(r"\bi\b")


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    """What ``fallback.yml`` says; ``labels`` also hold the training examples' labels
    (``example_labels``) for intents the file does not name."""

    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    not_suggested: frozenset[str] = frozenset()
    handoff: bool = True
    handoff_label: str = "Talk to a person"
    handoff_offline_label: str = "Leave a message for our team"


def load_fallback_settings(bot_dir: Path, *, intents: Collection[str] | None = None,
                           examples: TrainingData | None = None) -> FallbackSettings:
    """Read ``BOTDIR/fallback.yml`` (the defaults when absent). ``intents``: the names the
    bot knows (domain intents and sub-intents); ``examples``: its NLU data, for labels."""
    settings = _read(bot_dir, intents)
    if examples is None:
        return settings
    return replace(settings, labels=MappingProxyType(
        {**example_labels(examples), **settings.labels}))


def load_bot_fallback_settings(bot_dir: Path, intents: Collection[str]) -> FallbackSettings:
    """``fallback.yml`` with the labels of the bot's NLU data, as a running bot uses them
    (reading the data costs ~25 ms for 600 examples, once per load). ``intents``: the
    domain's; the data adds the sub-intents. Data that cannot be read (edited since the
    model was trained) costs only the example labels, with a warning."""
    try:
        data: TrainingData | None = load_training_data(bot_dir)
    except BotDataError as exc:
        _log.warning("fallback labels without training examples: %s", exc)
        data = None
    names = {*intents, *(data.intent_response_keys if data else ())}
    return load_fallback_settings(bot_dir, intents=names, examples=data)


def validate_fallback(bot_dir: Path, intents: Collection[str] | None = None) -> list[Problem]:
    """Every problem of ``fallback.yml`` (none when it is absent), for the bot checks."""
    try:
        _read(bot_dir, intents)
    except BotDataError as exc:
        return list(exc.problems)
    return []


def example_labels(data: TrainingData) -> dict[str, str]:
    """Each intent's (or sub-intent's) first example without entities that fits a
    button, written as a choice: ``i want a refund`` → ``I want a refund``."""
    labels: dict[str, str] = {}
    for example in data.examples:
        text = " ".join(example.text.split())
        if example.label in labels or example.entities or not text:
            continue
        if len(text) <= _EXAMPLE_LABEL_LIMIT:
            text = _LONE_I.sub("I", text)
            labels[example.label] = text[0].upper() + text[1:]
    return labels


def _read(bot_dir: Path, intents: Collection[str] | None) -> FallbackSettings:
    found = load_parley_file(bot_dir, FALLBACK_FILE, ", ".join(_KEYS))
    if found is None:
        return FallbackSettings()
    shown, doc = found
    if doc is None:
        return FallbackSettings()
    problems = FileProblems(shown)
    problems.unknown_keys(doc, _KEYS, FALLBACK_FILE)
    labels = _labels(doc, intents, problems)
    not_suggested = _names(doc, intents, problems)
    handoff = doc.get("handoff", True)
    if not isinstance(handoff, bool):
        problems.add(doc.line_of("handoff"), f"'handoff' must be true or false, got {handoff!r}")
    texts = {key: _text(doc, key, problems) for key in ("handoff_label", "handoff_offline_label")}
    if problems.problems:
        raise BotDataError(sorted(problems.problems, key=lambda p: p.line or 0))
    defaults = FallbackSettings()
    return FallbackSettings(
        labels=MappingProxyType(labels), not_suggested=not_suggested, handoff=handoff is True,
        handoff_label=texts["handoff_label"] or defaults.handoff_label,
        handoff_offline_label=texts["handoff_offline_label"] or defaults.handoff_offline_label)


def _labels(doc: YamlMap, intents: Collection[str] | None, problems: FileProblems
            ) -> dict[str, str]:
    value: Any = doc.get("labels", YamlMap())
    if not isinstance(value, YamlMap):
        problems.add(doc.line_of("labels"), "'labels' must map intent names to button "
                     f"labels, got {value!r}")
        return {}
    labels: dict[str, str] = {}
    for name, label in value.items():
        line = value.line_of(name)
        if intents is not None and name not in intents:
            problems.add(line, f"labels: '{name}' is not an intent of the bot (it is never "
                         "suggested)")
        reason = _label_problem(label)
        if reason:
            problems.add(line, f"labels: '{name}': {reason}")
        else:
            labels[name] = " ".join(label.split())
    return labels


def _names(doc: YamlMap, intents: Collection[str] | None, problems: FileProblems
           ) -> frozenset[str]:
    value: Any = doc.get("not_suggested", [])
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        problems.add(doc.line_of("not_suggested"), "'not_suggested' must be a list of intent "
                     f"names, got {value!r}")
        return frozenset()
    for name in value:
        if intents is not None and name not in intents:
            problems.add(doc.line_of("not_suggested"), f"not_suggested: '{name}' is not an "
                         "intent of the bot")
    return frozenset(value)


def _text(doc: YamlMap, key: str, problems: FileProblems) -> str | None:
    if key not in doc:
        return None
    reason = _label_problem(doc[key])
    if reason:
        problems.add(doc.line_of(key), f"'{key}': {reason}")
        return None
    return " ".join(str(doc[key]).split())


def _label_problem(label: Any) -> str | None:
    if not isinstance(label, str) or not label.strip():
        return f"expected a button label (text), got {label!r}"
    if len(label.strip()) > LABEL_LIMIT:
        return f"a button label has at most {LABEL_LIMIT} characters, this one {len(label)}"
    return None
