"""Review labels as Rasa 3.x NLU training data: the plan of ``parley review export``.

Pure work, no database and no writing: ``plan_export`` takes the labels, the bot's NLU data
and what the output file already holds, and decides which labels become examples, which
are duplicates, which conflict, and which cannot be written; ``render`` spells the file.

- Texts are compared as the bot's data loader compares them (``brain.nlu.training_data``):
  lowercased, runs of white space as one space, trimmed.
- A label whose text the bot's data already has under the same intent is a duplicate
  (skipped and named), unless the output file has it: an earlier export wrote it. Under
  another intent it is a conflict, left out and reported with the example's file and
  line; so are labels whose texts agree and intents disagree.
- A text goes in only if the loader reads it back exactly (its entity markup included):
  a line break, a control character, or brackets the loader would take for entity markup
  make it one that cannot be written, reported as such.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from brain.nlu.annotations import AnnotationError, parse_annotated_text
from brain.nlu.training_data import Example

__all__ = ["ExportPlan", "LabelExample", "normalised", "plan_export", "render"]

_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
_BREAKS = {"\u2028", "\u2029", "\x85", "\ufeff"}  # YAML reads them as line breaks / BOM


@dataclass(frozen=True, slots=True)
class LabelExample:
    """One review label, as the export sees it (``source``: where it came from)."""

    text: str
    intent: str
    entities: tuple[Mapping[str, Any], ...]
    source: str


@dataclass
class ExportPlan:
    """What to write and what to tell: ``examples`` are the file's (kept ones first);
    ``new`` the labels added by this run."""

    examples: list[tuple[str, str]] = field(default_factory=list)  # (intent, marked line)
    new: list[LabelExample] = field(default_factory=list)
    kept: int = 0
    exported: int = 0  # labels already in the file
    duplicates: list[tuple[LabelExample, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unwritable: list[str] = field(default_factory=list)


def normalised(text: str) -> str:
    """The loader's key for "the same text"."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def plan_export(labels: Sequence[LabelExample], bot_examples: Iterable[Example],
                file_examples: Sequence[Example]) -> ExportPlan:
    """Decide the output (module doc). ``bot_examples``: every example of the bot's data,
    the output file's included when it is in ``data/``; ``file_examples``: the output
    file's own, kept as they are."""
    plan = ExportPlan()
    for example in file_examples:
        plan.examples.append((example.intent, _marked(example.text, [
            {"start": a.start, "end": a.end, "entity": a.entity, "value": a.value}
            for a in example.entities])))
    plan.kept = len(plan.examples)
    known: dict[str, Example] = {}
    exported = {(e.path, e.line) for e in file_examples}
    for example in [*bot_examples, *file_examples]:
        known.setdefault(normalised(example.text), example)
    for group in _by_text(labels).values():
        intents = sorted({lb.intent for lb in group})
        if len(intents) > 1:
            plan.conflicts.append("labels disagree on " + repr(group[0].text) + ": " + "; ".join(
                f"{lb.source} says {lb.intent}" for lb in group))
            continue
        chosen = group[-1]  # the newest label of the text
        existing = known.get(normalised(chosen.text))
        if existing is not None and existing.intent != chosen.intent:
            plan.conflicts.append(f"{chosen.source}: {chosen.text!r} is labelled "
                                  f"{chosen.intent}, but {existing.path}:{existing.line} has it "
                                  f"under {existing.intent}")
        elif existing is not None and (existing.path, existing.line) in exported:
            plan.exported += 1  # by an earlier export: nothing to say
        elif existing is not None:
            plan.duplicates.append((chosen, f"{existing.path}:{existing.line}"))
        else:
            line = _writable(chosen, plan)
            if line is not None:
                plan.examples.append((chosen.intent, line))
                plan.new.append(chosen)
    return plan


def _by_text(labels: Sequence[LabelExample]) -> dict[str, list[LabelExample]]:
    groups: dict[str, list[LabelExample]] = {}
    for lb in labels:
        groups.setdefault(normalised(lb.text), []).append(lb)
    return groups


def _writable(label: LabelExample, plan: ExportPlan) -> str | None:
    """The example's line if the loader reads it back as this text and these entities."""
    stripped = label.text.strip()
    shift = len(label.text) - len(label.text.lstrip())
    if len(label.text.splitlines()) > 1 or any(
            unicodedata.category(c) == "Cc" or c in _BREAKS for c in stripped):
        plan.unwritable.append(f"{label.source}: {label.text[:60]!r} holds a line break or a "
                               "control character, which a training example cannot")
        return None
    spans = [{**e, "start": int(e["start"]) - shift, "end": int(e["end"]) - shift}
             for e in label.entities]
    line = _marked(stripped, spans)
    try:
        text, read = parse_annotated_text(line)
    except AnnotationError:
        text, read = "", ()
    expected = [(s["start"], s["end"], s["entity"], s.get("value") or stripped[
        s["start"]:s["end"]]) for s in spans]
    if text != stripped or [(a.start, a.end, a.entity, a.value) for a in read] != expected:
        plan.unwritable.append(f"{label.source}: {label.text[:60]!r} holds brackets the "
                               "training data would read as entity markup ([text](entity)), "
                               "or an entity span with ']' in it")
        return None
    return line


def _marked(text: str, spans: Sequence[Mapping[str, Any]]) -> str:
    """``text`` with Rasa's entity markup: ``[text](entity)``, or with a value other than
    the text ``[text]{"entity": "e", "value": "v"}``."""
    parts, cursor = [], 0
    for span in sorted(spans, key=lambda s: int(s["start"])):
        start, end = int(span["start"]), int(span["end"])
        piece, value = text[start:end], span.get("value")
        parts.append(text[cursor:start])
        if value is None or value == piece:
            parts.append(f"[{piece}]({span['entity']})")
        else:
            spec = json.dumps({"entity": span["entity"], "value": value}, ensure_ascii=False)
            parts.append(f"[{piece}]{spec}")
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def render(examples: Sequence[tuple[str, str]]) -> str:
    """The file: one ``- intent:`` item per intent, in the order they first appear."""
    by_intent: dict[str, list[str]] = {}
    for intent, line in examples:
        by_intent.setdefault(intent, []).append(line)
    out = ['version: "3.1"',
           "# Written by `parley review export` from the desk's review labels; re-running",
           "# it keeps what is here and adds the new labels.", "nlu:"]
    for intent, lines in by_intent.items():
        out += [f"- intent: {_name(intent)}", "  examples: |", *(f"    - {line}" for line in lines)]
    return "\n".join(out) + "\n"


def _name(intent: str) -> str:
    """The intent's name as YAML reads it back as that text (``yes`` would be a boolean)."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", intent) and intent.lower() not in _YAML_WORDS
    return intent if plain else json.dumps(intent)
