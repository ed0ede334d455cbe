"""Which of a bot's entities and slots hold personal data, from the optional ``privacy.yml``.

A Parley extension (Rasa has no such file)::

    sensitive_entities: [order_id, person_name]   # values redacted where stored or logged
    sensitive_slots: [shipping_address]           # e.g. filled from text by a form

A slot filled from a sensitive entity (``from_entity``) is sensitive too. The NLU and the
dialogue still see the real values; what the archive stores and log lines show are
``[order_id]``-like placeholders (``workers.turn_redaction``, ``channels.log_privacy``).
Without the file only the pattern kinds (emails, phone numbers, cards, IBANs) are redacted.
Every defect is a ``Problem`` naming file and line, all reported together.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.dialogue.domain import Slot
from brain.errors import BotDataError, Problem
from brain.yaml_source import FileProblems, YamlMap, load_parley_file

__all__ = ["PRIVACY_FILE", "PrivacySettings", "load_privacy_settings", "validate_privacy"]

PRIVACY_FILE = "privacy.yml"
_KEYS = ("sensitive_entities", "sensitive_slots")


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """What ``privacy.yml`` says; ``slots`` includes those filled from sensitive entities."""

    entities: frozenset[str] = frozenset()
    slots: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return bool(self.entities or self.slots)


def load_privacy_settings(bot_dir: Path, *, entities: Collection[str] | None = None,
                          slots: Mapping[str, Slot] | None = None) -> PrivacySettings:
    """Read ``BOTDIR/privacy.yml`` (nothing sensitive but the patterns when absent). Given
    the domain's ``entities`` and ``slots``, every name must be one of them."""
    found = load_parley_file(bot_dir, PRIVACY_FILE, ", ".join(_KEYS))
    if found is None:
        return PrivacySettings()
    shown, doc = found
    if doc is None:
        return PrivacySettings()
    problems = FileProblems(shown)
    problems.unknown_keys(doc, _KEYS, PRIVACY_FILE)
    named_entities = _names(doc, "sensitive_entities", entities, "entity", problems)
    named_slots = _names(doc, "sensitive_slots", None if slots is None else set(slots),
                         "slot", problems)
    if problems.problems:
        raise BotDataError(sorted(problems.problems, key=lambda p: p.line or 0))
    return _with_entity_slots(PrivacySettings(named_entities, named_slots), slots)


def validate_privacy(bot_dir: Path, entities: Collection[str] | None = None,
                     slots: Mapping[str, Slot] | None = None) -> list[Problem]:
    """Every problem of ``privacy.yml`` (none when it is absent), for the bot checks."""
    try:
        load_privacy_settings(bot_dir, entities=entities, slots=slots)
    except BotDataError as exc:
        return list(exc.problems)
    return []


def _names(doc: YamlMap, key: str, known: Collection[str] | None, what: str,
           problems: FileProblems) -> frozenset[str]:
    value: Any = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        problems.add(doc.line_of(key), f"'{key}' must be a list of {what} names, "
                     f"got {value!r}")
        return frozenset()
    article = "an" if what == "entity" else "a"
    for name in value:
        if known is not None and name not in known:
            problems.add(doc.line_of(key), f"'{key}': '{name}' is not {article} {what} of "
                         "the domain (nothing would be redacted)")
    return frozenset(value)


def _with_entity_slots(settings: PrivacySettings, slots: Mapping[str, Slot] | None
                       ) -> PrivacySettings:
    if not slots or not settings.entities:
        return settings
    filled = {name for name, slot in slots.items()
              if any(m.type == "from_entity" and m.entity in settings.entities
                     for m in slot.mappings)}
    return PrivacySettings(settings.entities, settings.slots | filled)
