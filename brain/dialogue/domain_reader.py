"""Reads ``domain.yml`` into a ``Domain``; every unsupported key or bad value is a
``Problem`` with file and line, all reported together, never silently ignored.

``Domain`` holds no line numbers (the engine does not need them); ``read_domain`` also
returns a ``DomainSource`` that finds the line of any part of the file, for checks that run
after loading (``brain.validation``) to name file and line too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.dialogue.domain import (
    MAPPING_TYPES,
    SLOT_TYPES,
    Domain,
    Form,
    MappingCondition,
    ResponseVariation,
    SessionConfig,
    Slot,
    SlotMapping,
)
from brain.errors import BotDataError, Problem
from brain.yaml_source import YamlMap, YamlSeq, load_yaml_file

__all__ = ["DomainSource", "load_domain", "read_domain"]

_TOP = {"version", "intents", "entities", "slots", "responses", "forms", "actions",
        "session_config"}
_SLOT_KEYS = {"type", "mappings", "initial_value", "values", "min_value", "max_value",
              "influence_conversation"}
_MAPPING_KEYS = {"type", "entity", "value", "intent", "not_intent", "conditions"}
_VARIATION_KEYS = {"text", "buttons", "channel", "condition", "image"}
# utter_faq/ask_hours: the response of sub-intent ask_hours of retrieval intent faq.
_SUB_INTENT_RESPONSE = re.compile(r"utter_[^/\s]+/[^/\s]+")


class _Issues:
    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.shown, line, message))

    def unknown_keys(self, node: YamlMap, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(node.line_of(key), f"unsupported key '{key}' in {what} "
                         f"(supported: {', '.join(sorted(allowed))})")


@dataclass(frozen=True, slots=True)
class DomainSource:
    """Where the parts of a loaded ``domain.yml`` are written.

    ``line("slots", "colour", "mappings", 0)`` is the line of slot colour's first mapping;
    keys are mapping keys and list indexes. A path that leads past what the file holds
    gives the line of the deepest part that exists (at worst the document's first line),
    so a problem always has a line to point at.
    """

    path: str
    doc: YamlMap

    def line(self, *keys: str | int) -> int:
        node: Any = self.doc
        line = self.doc.line
        for key in keys:
            if isinstance(node, YamlMap) and isinstance(key, str) and key in node:
                line, node = node.line_of(key), node[key]
            elif isinstance(node, YamlSeq) and isinstance(key, int) and 0 <= key < len(node):
                line, node = node.item_lines[key], node[key]
            else:
                break
        return line


def load_domain(bot_dir: Path) -> Domain:
    """Read ``BOTDIR/domain.yml``; raise ``BotDataError`` listing every problem."""
    return read_domain(bot_dir)[0]


def read_domain(bot_dir: Path) -> tuple[Domain, DomainSource]:
    """``load_domain``, and where each part of the domain is written."""
    path = bot_dir / "domain.yml"
    shown = str(path)
    if not path.is_file():
        raise BotDataError([Problem(shown, None, "missing domain.yml")])
    doc = load_yaml_file(path, display_path=shown)
    issues = _Issues(shown)
    if not isinstance(doc, YamlMap):
        raise BotDataError([Problem(shown, 1, "domain.yml must be a mapping")])
    issues.unknown_keys(doc, _TOP, "the domain")
    domain = Domain(
        intents=tuple(_names(doc, "intents", issues)),
        entities=tuple(_names(doc, "entities", issues)),
        slots=_slots(doc.get("slots", YamlMap()), issues),
        responses=_responses(doc.get("responses", YamlMap()), issues),
        forms=_forms(doc.get("forms", YamlMap()), issues),
        actions=tuple(_names(doc, "actions", issues)),
        session=_session(doc.get("session_config", YamlMap()), issues),
    )
    if issues.problems:
        raise BotDataError(issues.problems)
    return domain, DomainSource(shown, doc)


def _names(doc: YamlMap, key: str, issues: _Issues) -> list[str]:
    items = doc.get(key, [])
    if not isinstance(items, list):
        issues.add(doc.line_of(key), f"'{key}' must be a list of names")
        return []
    names = []
    for index, item in enumerate(items):
        line = items.item_lines[index] if isinstance(items, YamlSeq) else doc.line_of(key)
        if isinstance(item, str):
            names.append(item)
        else:
            issues.add(line, f"'{key}' entries must be plain names; options such as "
                       "use_entities are not supported")
    return names


def _slots(node: Any, issues: _Issues) -> dict[str, Slot]:
    if not isinstance(node, YamlMap):
        issues.add(getattr(node, "line", None), "'slots' must be a mapping")
        return {}
    return {name: slot for name in node
            if (slot := _slot(name, node[name], node.line_of(name), issues)) is not None}


def _slot(name: str, spec: Any, line: int, issues: _Issues) -> Slot | None:
    if not isinstance(spec, YamlMap):
        issues.add(line, f"slot '{name}' must be a mapping with a 'type'")
        return None
    issues.unknown_keys(spec, _SLOT_KEYS, f"slot '{name}'")
    kind = spec.get("type")
    if kind not in SLOT_TYPES:
        issues.add(spec.line_of("type"), f"slot '{name}' has unsupported type {kind!r} "
                   f"(supported: {', '.join(SLOT_TYPES)})")
        return None
    mappings = spec.get("mappings")
    if mappings is not None and not isinstance(mappings, YamlSeq):
        issues.add(spec.line_of("mappings"), f"slot '{name}': 'mappings' must be a list")
    if not isinstance(mappings, YamlSeq):
        mappings = YamlSeq()
        mappings.item_lines = []
    parsed = [_mapping(name, m, ln, issues) for m, ln in zip(mappings, mappings.item_lines,
                                                              strict=True)]
    values = spec.get("values", [])
    if kind == "categorical" and not values:
        issues.add(spec.line, f"categorical slot '{name}' needs 'values'")
    return Slot(name, kind, tuple(m for m in parsed if m is not None), spec.get("initial_value"),
                tuple(str(v) for v in values), spec.get("min_value"), spec.get("max_value"),
                _influence(name, kind, spec, issues))


def _influence(name: str, kind: str, spec: YamlMap, issues: _Issues) -> bool:
    """``influence_conversation``: Rasa's default is true, but for ``any`` slots, which
    cannot influence the conversation at all."""
    value = spec.get("influence_conversation", kind != "any")
    if not isinstance(value, bool):
        issues.add(spec.line_of("influence_conversation"), f"slot '{name}': "
                   f"influence_conversation must be true or false, got {value!r}")
        return kind != "any"
    if value and kind == "any":
        issues.add(spec.line_of("influence_conversation"), f"slot '{name}': a slot of type "
                   "'any' cannot influence the conversation (as in Rasa); use another type")
        return False
    return value


def _mapping(slot: str, spec: Any, line: int, issues: _Issues) -> SlotMapping | None:
    if not isinstance(spec, YamlMap) or spec.get("type") not in MAPPING_TYPES:
        issues.add(line, f"slot '{slot}': a mapping needs a type among {', '.join(MAPPING_TYPES)}")
        return None
    issues.unknown_keys(spec, _MAPPING_KEYS, f"a mapping of slot '{slot}'")
    if spec["type"] == "from_entity" and not spec.get("entity"):
        issues.add(line, f"slot '{slot}': a from_entity mapping needs 'entity'")
    conditions = []
    for cond in spec.get("conditions", []) or []:
        if not isinstance(cond, YamlMap) or "active_loop" not in cond:
            issues.add(line, f"slot '{slot}': each condition needs 'active_loop'")
            continue
        issues.unknown_keys(cond, {"active_loop", "requested_slot"}, "a mapping condition")
        conditions.append(MappingCondition(cond.get("active_loop"), cond.get("requested_slot")))
    return SlotMapping(spec["type"], spec.get("entity"), spec.get("value"),
                       _as_tuple(spec.get("intent")), _as_tuple(spec.get("not_intent")),
                       tuple(conditions))


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (str(value),)


def _responses(node: Any, issues: _Issues) -> dict[str, tuple[ResponseVariation, ...]]:
    if not isinstance(node, YamlMap):
        issues.add(getattr(node, "line", None), "'responses' must be a mapping")
        return {}
    result = {}
    for name in node:
        variations = node[name]
        if not name.startswith("utter_") or not isinstance(variations, YamlSeq) or not variations:
            issues.add(node.line_of(name), f"response '{name}' must be named utter_… and be a "
                       "non-empty list of variations")
            continue
        if "/" in name and not _SUB_INTENT_RESPONSE.fullmatch(name):
            issues.add(node.line_of(name), f"response '{name}': a sub-intent's response is "
                       "named utter_<intent>/<sub_intent>, with one '/'")
            continue
        parsed = [_variation(name, v, ln, issues)
                  for v, ln in zip(variations, variations.item_lines, strict=True)]
        result[name] = tuple(v for v in parsed if v is not None)
    return result


def _variation(name: str, spec: Any, line: int, issues: _Issues) -> ResponseVariation | None:
    if not isinstance(spec, YamlMap) or not isinstance(spec.get("text"), str):
        issues.add(line, f"response '{name}': each variation needs a 'text'")
        return None
    issues.unknown_keys(spec, _VARIATION_KEYS, f"response '{name}'")
    buttons = []
    for button in spec.get("buttons", []) or []:
        if not isinstance(button, YamlMap) or not {"title", "payload"} <= set(button):
            issues.add(spec.line_of("buttons"), f"response '{name}': a button needs "
                       "'title' and 'payload'")
            continue
        buttons.append({"title": str(button["title"]), "payload": str(button["payload"])})
    condition = []
    for cond in spec.get("condition", []) or []:
        if not isinstance(cond, YamlMap) or cond.get("type") != "slot" or "name" not in cond:
            issues.add(spec.line_of("condition"), f"response '{name}': conditions must be "
                       "'- type: slot, name: …, value: …'")
            continue
        condition.append((str(cond["name"]), cond.get("value")))
    return ResponseVariation(spec["text"], tuple(buttons), spec.get("channel"),
                             tuple(condition), spec.get("image"))


def _forms(node: Any, issues: _Issues) -> dict[str, Form]:
    if not isinstance(node, YamlMap):
        issues.add(getattr(node, "line", None), "'forms' must be a mapping")
        return {}
    forms = {}
    for name in node:
        spec = node[name]
        if not isinstance(spec, YamlMap) or not isinstance(spec.get("required_slots"), list):
            issues.add(node.line_of(name), f"form '{name}' needs a 'required_slots' list")
            continue
        issues.unknown_keys(spec, {"required_slots"}, f"form '{name}'")
        forms[name] = Form(name, tuple(str(s) for s in spec["required_slots"]))
    return forms


def _session(node: Any, issues: _Issues) -> SessionConfig:
    if not isinstance(node, YamlMap):
        return SessionConfig()
    issues.unknown_keys(node, {"session_expiration_time", "carry_over_slots_to_new_session"},
                        "session_config")
    minutes = node.get("session_expiration_time", 60)
    if not isinstance(minutes, int | float) or minutes < 0:
        issues.add(node.line_of("session_expiration_time"),
                   "session_expiration_time must be a number of minutes ≥ 0")
        minutes = 60
    return SessionConfig(float(minutes), bool(node.get("carry_over_slots_to_new_session", True)))
