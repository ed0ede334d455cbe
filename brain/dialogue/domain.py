"""The bot's domain (``domain.yml``) as typed, frozen values. Reading it is ``domain_reader``.

Parley's supported subset of Rasa 3.x's domain, and what each part means here:
slots of type text, bool, categorical, float, list, any with ``initial_value``,
``values`` (categorical), ``min_value``/``max_value`` (float), ``influence_conversation``
(whether stories see the slot: ``brain.dialogue.memoization``) and mappings ``from_entity``,
``from_text``, ``from_intent``, ``from_trigger_intent``, ``custom`` (set by actions),
each with optional ``intent``,
``not_intent`` and ``conditions`` on ``active_loop``/``requested_slot``); responses with
variations, ``buttons``, ``channel`` and slot ``condition``s (a sub-intent's response is
``utter_faq/ask_hours``, sent by the retrieval action ``utter_faq``:
``brain.dialogue.retrieval``); forms with ``required_slots``; ``session_config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Domain",
    "Form",
    "MappingCondition",
    "ResponseVariation",
    "SessionConfig",
    "Slot",
    "SlotMapping",
]

SLOT_TYPES = ("text", "bool", "categorical", "float", "list", "any")
MAPPING_TYPES = ("from_entity", "from_text", "from_intent", "from_trigger_intent", "custom")


@dataclass(frozen=True, slots=True)
class MappingCondition:
    """A mapping applies only while ``active_loop`` (and ``requested_slot``, if set) hold."""

    active_loop: str | None
    requested_slot: str | None = None


@dataclass(frozen=True, slots=True)
class SlotMapping:
    type: str
    entity: str | None = None
    value: Any = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    conditions: tuple[MappingCondition, ...] = ()


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    type: str
    mappings: tuple[SlotMapping, ...] = ()
    initial_value: Any = None
    values: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    # Whether the story policy sees the slot (Rasa's default: every type but ``any``).
    influence_conversation: bool = True


@dataclass(frozen=True, slots=True)
class ResponseVariation:
    """One way to say a response; ``channel`` and ``condition`` restrict where it is used."""

    text: str
    buttons: tuple[dict[str, str], ...] = ()
    channel: str | None = None
    condition: tuple[tuple[str, Any], ...] = ()  # (slot name, required value)
    image: str | None = None


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    required_slots: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """``session_expiration_time`` in minutes (0: sessions never expire)."""

    session_expiration_time: float = 60.0
    carry_over_slots_to_new_session: bool = True


@dataclass(frozen=True, slots=True)
class Domain:
    intents: tuple[str, ...]
    entities: tuple[str, ...] = ()
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, tuple[ResponseVariation, ...]] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    session: SessionConfig = field(default_factory=SessionConfig)

    def initial_slots(self) -> dict[str, Any]:
        values = {name: slot.initial_value for name, slot in self.slots.items()}
        values["requested_slot"] = None
        return values
