"""Stories (``stories:`` in the bot's data files) and the reader that checks them.

A story is an example conversation: user turns (``intent``, with optional ``entities``
and the ``user`` text Rasa allows beside an intent), the bot's ``action``s,
``slot_was_set`` (what the turn set: ``- slot: value``, or ``- slot`` for any value),
``active_loop`` (a form starts, ``null`` when it ends), ``or`` (alternatives for one step:
the story is read once per alternative) and ``checkpoint``s. A checkpoint is allowed only
at a story's start (it continues every story that ends with that checkpoint) or end;
``brain.dialogue.story_graph`` stitches the pieces into whole conversations and
``brain.dialogue.memoization`` learns from them. Every problem names file and line.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.nlu.training_data import data_section_items
from brain.yaml_source import YamlMap, YamlSeq

__all__ = ["StoryFragment", "StoryStep", "load_story_fragments"]

_STORY_KEYS = ("story", "steps", "metadata")
_STEP_KINDS = ("intent", "action", "slot_was_set", "active_loop", "checkpoint", "or")
_MAX_ALTERNATIVES = 64  # expansions of one story's ``or`` steps


@dataclass(frozen=True, slots=True)
class StoryStep:
    """``kind`` is intent, action, slot_was_set or active_loop; ``value`` a name, ``None``
    for ``active_loop: null``, or ``(slot, value)`` pairs (``...``: any value). ``story``,
    ``path`` and ``line`` say where it was written (stitched stories mix files)."""

    kind: str
    value: Any
    line: int
    path: str
    story: str
    entities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoryFragment:
    """One story as written (one ``or`` alternative of it): ``starts`` are the checkpoints
    it continues, ``ends`` those it leads to; without ``starts`` it opens a conversation."""

    name: str
    path: str
    line: int
    steps: tuple[StoryStep, ...]
    starts: tuple[str, ...] = ()
    ends: tuple[str, ...] = ()


def load_story_fragments(bot_dir: Path) -> list[StoryFragment]:
    """Every story of every data file, checked; ``BotDataError`` lists all problems."""
    fragments: list[StoryFragment] = []
    problems: list[Problem] = []
    for shown, item, line in data_section_items(bot_dir, "stories", problems):
        fragments.extend(_story(item, line, shown, problems))
    if problems:
        raise BotDataError(problems)
    return fragments


def _story(item: Any, line: int, shown: str, problems: list[Problem]) -> list[StoryFragment]:
    if not isinstance(item, YamlMap) or not isinstance(item.get("steps"), YamlSeq):
        problems.append(Problem(shown, line, "a story needs 'story: name' and a 'steps' list"))
        return []
    name = str(item.get("story", f"story at line {line}"))
    for key in item:
        if key not in _STORY_KEYS:
            problems.append(Problem(shown, item.line_of(key), f"unsupported key '{key}' in "
                                    f"story '{name}' (supported: {', '.join(_STORY_KEYS)})"))
    where = _Where(shown, name, problems)
    items: YamlSeq = item["steps"]
    starts: list[str] = []
    ends: list[str] = []
    slots: list[list[tuple[StoryStep, ...]]] = []  # per step: its alternatives
    for index, (raw, step_line) in enumerate(zip(items, items.item_lines, strict=True)):
        if isinstance(raw, YamlMap) and "checkpoint" in raw:
            _checkpoint(raw, step_line, where, starts if not slots else ends)
            if slots and index + 1 < len(items) and not _all_checkpoints(items[index + 1:]):
                where.add(step_line, "a checkpoint goes at the start or the end of a story "
                          "(split the story there and start the rest with the checkpoint)")
            continue
        alternatives = where.alternatives(raw, step_line)
        if alternatives:
            slots.append(alternatives)
    combinations = 1
    for alternatives in slots:
        combinations *= len(alternatives)
    if combinations > _MAX_ALTERNATIVES:
        where.add(line, f"story '{name}' expands to {combinations} stories through its 'or' "
                  f"steps (at most {_MAX_ALTERNATIVES}); split it with checkpoints")
        return []
    return [StoryFragment(name, shown, line, tuple(s for part in chosen for s in part),
                          tuple(starts), tuple(ends))
            for chosen in itertools.product(*slots)]


def _all_checkpoints(items: list[Any]) -> bool:
    return all(isinstance(i, YamlMap) and "checkpoint" in i for i in items)


def _checkpoint(raw: YamlMap, line: int, where: _Where, into: list[str]) -> None:
    extra = [k for k in raw if k != "checkpoint"]
    value = raw["checkpoint"]
    if extra:
        where.add(line, f"a checkpoint holds only its name; unsupported key(s) "
                  f"{', '.join(extra)} (checkpoint conditions are not supported)")
    elif not isinstance(value, str) or not value:
        where.add(line, "'checkpoint' needs a name")
    else:
        into.append(value)


class _Where:
    """One story's file, name and problems, for the step readers."""

    def __init__(self, shown: str, story: str, problems: list[Problem]) -> None:
        self.shown, self.story, self.problems = shown, story, problems

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.shown, line, f"story '{self.story}': {message}"))

    def alternatives(self, raw: Any, line: int) -> list[tuple[StoryStep, ...]]:
        """The step's alternatives (one, but for ``or``), each a tuple of steps."""
        if isinstance(raw, YamlMap) and "or" in raw:
            options = raw["or"]
            if set(raw) != {"or"} or not isinstance(options, YamlSeq) or not options:
                self.add(line, "'or' holds a list of alternative steps and nothing else")
                return []
            found: list[tuple[StoryStep, ...]] = []
            for option, option_line in zip(options, options.item_lines, strict=True):
                if isinstance(option, YamlMap) and ("or" in option or "checkpoint" in option):
                    self.add(option_line, "an 'or' alternative is an intent, action, "
                             "slot_was_set or active_loop step")
                    continue
                step = self.step(option, option_line)
                if step is not None:
                    found.append((step,))
            return found if len(found) == len(options) else []
        step = self.step(raw, line)
        return [(step,)] if step is not None else []

    def step(self, raw: Any, line: int) -> StoryStep | None:
        kinds = [k for k in _STEP_KINDS if isinstance(raw, YamlMap) and k in raw]
        if not kinds and isinstance(raw, YamlMap) and "user" in raw:
            self.add(line, "a 'user' step needs its 'intent' (end-to-end stories, user text "
                     "without an intent, are not supported)")
            return None
        extra = [k for k in raw if k not in (*_STEP_KINDS, "entities", "user")] if isinstance(
            raw, YamlMap) else []
        if len(kinds) != 1 or extra:
            hint = (" ('bot' text steps are not supported: name the response as an action)"
                    if "bot" in extra else f"; unsupported key(s) {', '.join(extra)}"
                    if extra else "")
            self.add(line, f"a step is one of {', '.join(_STEP_KINDS)}{hint}")
            return None
        kind = kinds[0]
        value = raw[kind]
        if kind != "intent" and ("entities" in raw or "user" in raw):
            self.add(line, "'entities' and 'user' belong to an intent step")
            return None
        if kind == "slot_was_set":
            return StoryStep(kind, self.slot_pairs(value, line), line, self.shown, self.story)
        if kind == "active_loop":
            if value is not None and not isinstance(value, str):
                self.add(line, "active_loop is a form name or null")
                return None
            return StoryStep(kind, value, line, self.shown, self.story)
        if not isinstance(value, str) or not value:
            self.add(line, f"'{kind}' needs a name")
            return None
        entities = self.entities(raw.get("entities"), line) if kind == "intent" else ()
        return StoryStep(kind, value, line, self.shown, self.story, entities)

    def entities(self, value: Any, line: int) -> tuple[str, ...]:
        """Entity names of ``- name``, ``- name: value`` or ``- entity: name`` entries."""
        names: list[str] = []
        for entry in value if isinstance(value, list) else [] if value is None else [value]:
            if isinstance(entry, str):
                names.append(entry)
            elif isinstance(entry, dict) and isinstance(entry.get("entity"), str):
                names.append(entry["entity"])
            elif isinstance(entry, dict) and len(entry) == 1:
                names.extend(str(k) for k in entry)
            else:
                self.add(line, "entities are '- name', '- name: value' or "
                         "'- entity: name' entries")
        return tuple(sorted(set(names)))

    def slot_pairs(self, value: Any, line: int) -> tuple[tuple[str, Any], ...]:
        pairs: list[tuple[str, Any]] = []
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, dict):
                pairs.extend(entry.items())
            elif isinstance(entry, str):
                pairs.append((entry, ...))  # any value, as Rasa's "- slot"
            else:
                self.add(line, "slot_was_set entries are '- slot: value' or '- slot'")
        return tuple(pairs)
