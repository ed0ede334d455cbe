"""Rasa's inline entity markup in training examples.

``[48291](order_id)`` and ``[ord 1]{"entity": "order_id", "value": "ORD-1"}`` become a
plain text plus character spans. Roles and groups are rejected: Parley's extractors do not
predict them, and silently dropping them would train a different bot than the user wrote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["AnnotationError", "EntityAnnotation", "parse_annotated_text"]

# The same shapes Rasa 3 accepts: (entity), (entity:value) and {json}; [..][..] lists too.
_MARKUP = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<short>[^)]*?)\)|\{(?P<json>[^}]*?)\}|(?P<list>\[\{.*?\}\]))"
)


class AnnotationError(ValueError):
    """An example's entity markup cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class EntityAnnotation:
    """An entity span in an example's plain text, with the value it stands for."""

    start: int
    end: int
    entity: str
    value: str
    text: str


def parse_annotated_text(marked: str) -> tuple[str, tuple[EntityAnnotation, ...]]:
    """Strip the markup from ``marked``; return the plain text and its entity spans."""
    plain: list[str] = []
    entities: list[EntityAnnotation] = []
    cursor = 0
    length = 0
    for match in _MARKUP.finditer(marked):
        before = marked[cursor:match.start()]
        plain.append(before)
        length += len(before)
        text = match.group("text")
        entity, value = _entity_and_value(match, text)
        entities.append(EntityAnnotation(length, length + len(text), entity, value, text))
        plain.append(text)
        length += len(text)
        cursor = match.end()
    plain.append(marked[cursor:])
    result = "".join(plain)
    if re.search(r"\]\(|\]\{", result):
        raise AnnotationError("unbalanced entity markup: expected [text](entity) or "
                              '[text]{"entity": "name"}')
    return result, tuple(entities)


def _entity_and_value(match: re.Match[str], text: str) -> tuple[str, str]:
    if match.group("list") is not None:
        raise AnnotationError(f"several entities on one span '[{text}]' are not supported")
    if match.group("short") is not None:
        name, _, value = match.group("short").partition(":")
        return _checked_name(name.strip(), text), (value.strip() or text)
    try:
        spec = json.loads("{" + match.group("json") + "}")
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"entity markup for '[{text}]' is not valid JSON: {exc.msg}") from exc
    if not isinstance(spec, dict):
        raise AnnotationError(f"entity markup for '[{text}]' must be a JSON object")
    unsupported = sorted(set(spec) & {"role", "group"})
    if unsupported:
        raise AnnotationError(f"entity {', '.join(unsupported)} on '[{text}]' is not supported "
                              "by Parley; use a separate entity name instead")
    unknown = sorted(set(spec) - {"entity", "value"})
    if unknown:
        raise AnnotationError(f"unknown key(s) {', '.join(unknown)} in entity markup "
                              f"for '[{text}]'")
    name = spec.get("entity")
    if not isinstance(name, str):
        raise AnnotationError(f"entity markup for '[{text}]' needs an \"entity\" name")
    value = spec.get("value", text)
    return _checked_name(name, text), str(value)


def _checked_name(name: str, text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w\-.]*", name):
        raise AnnotationError(f"invalid entity name '{name}' on '[{text}]'")
    return name
