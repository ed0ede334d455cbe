"""Rules (``rules:`` in the bot's data files) and the reader that checks them.

A rule is a short fragment of conversation: a user turn (``intent``), then actions, form
activation (``active_loop: form``), form end (``active_loop: null``) and ``slot_was_set``
checks. As in Rasa, it may begin with what happened before that turn: the bot's previous
action(s), even earlier user turns (``- action: utter_did_that_help``, ``- intent: affirm``,
``- action: utter_happy``), so "yes" can mean different things after different questions.
Those steps (``Rule.history``: every step before the last ``intent``) must be the
conversation's most recent records before the message; the rest (``Rule.steps``) is
matched against the current turn (``brain.dialogue.rule_matching``). A rule without an
intent starts with an action and continues a turn. ``condition`` holds ``active_loop`` and
``slot_was_set`` that must be true when the rule starts; ``conversation_start: true``
limits it to a session's start; ``wait_for_user_input: false`` lets later rules continue
after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.nlu.training_data import data_section_items
from brain.yaml_source import YamlMap, YamlSeq

__all__ = ["Rule", "Step", "load_rules"]

_RULE_KEYS = {"rule", "steps", "condition", "wait_for_user_input", "conversation_start",
              "metadata"}
_STEP_KINDS = ("intent", "action", "active_loop", "slot_was_set")


@dataclass(frozen=True, slots=True)
class Step:
    """``kind`` is intent, action, active_loop or slot_was_set; ``value`` its argument
    (a name, ``None`` for ``active_loop: null``, or ``(slot, value)`` pairs)."""

    kind: str
    value: Any
    line: int


@dataclass(frozen=True, slots=True)
class Rule:
    """``steps`` start at the rule's last user turn (or its first action, for a rule
    without one); ``history`` is what the rule says came before that turn."""

    name: str
    steps: tuple[Step, ...]
    condition: tuple[Step, ...] = ()
    conversation_start: bool = False
    wait_for_user_input: bool = True
    path: str = ""
    line: int = 0
    history: tuple[Step, ...] = ()

    @property
    def all_steps(self) -> tuple[Step, ...]:
        return (*self.history, *self.steps)

    @property
    def intent(self) -> str | None:
        first = self.steps[0] if self.steps else None
        return first.value if first is not None and first.kind == "intent" else None

    def condition_loop(self) -> tuple[bool, str | None]:
        """(whether the condition names ``active_loop``, and which)."""
        for step in self.condition:
            if step.kind == "active_loop":
                return True, step.value
        return False, None


def load_rules(bot_dir: Path) -> list[Rule]:
    """Every rule of every data file, checked; ``BotDataError`` lists all problems."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    for shown, item, line in data_section_items(bot_dir, "rules", problems):
        rule = _rule(item, line, shown, problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise BotDataError(problems)
    return rules


def _rule(item: Any, line: int, shown: str, problems: list[Problem]) -> Rule | None:
    if not isinstance(item, YamlMap) or not isinstance(item.get("steps"), YamlSeq):
        problems.append(Problem(shown, line, "a rule needs 'rule: name' and a 'steps' list"))
        return None
    name = str(item.get("rule", f"rule at line {line}"))
    for key in item:
        if key not in _RULE_KEYS:
            problems.append(Problem(shown, item.line_of(key), f"unsupported key '{key}' in "
                                    f"rule '{name}' (supported: {', '.join(sorted(_RULE_KEYS))})"))
    steps = _steps(item["steps"], name, shown, problems)
    condition = _steps(item.get("condition") or _empty(item.line), name, shown, problems)
    if any(s.kind not in ("active_loop", "slot_was_set") for s in condition):
        problems.append(Problem(shown, item.line_of("condition"), f"rule '{name}': a condition "
                                "holds only active_loop and slot_was_set"))
    last_intent = max((i for i, s in enumerate(steps) if s.kind == "intent"), default=0)
    history, steps = steps[:last_intent], steps[last_intent:]
    if not any(s.kind == "action" for s in steps):
        problems.append(Problem(shown, line, f"rule '{name}' has no action step"
                                + (" after its last user turn" if history else "")))
    return Rule(name, tuple(steps), tuple(condition), bool(item.get("conversation_start")),
                bool(item.get("wait_for_user_input", True)), shown, line, tuple(history))


def _empty(line: int) -> YamlSeq:
    seq = YamlSeq()
    seq.line, seq.item_lines = line, []
    return seq


def _steps(items: Any, rule: str, shown: str, problems: list[Problem]) -> list[Step]:
    steps = []
    for item, line in zip(items, items.item_lines, strict=True):
        kinds = [k for k in _STEP_KINDS if isinstance(item, YamlMap) and k in item]
        extra = [k for k in item if k not in (*_STEP_KINDS, "entities", "user")] if isinstance(
            item, YamlMap) else []
        if len(kinds) != 1 or extra:
            problems.append(Problem(shown, line, f"rule '{rule}': a step is one of "
                                    f"{', '.join(_STEP_KINDS)}" +
                                    (f"; unsupported key(s) {', '.join(extra)}" if extra else "")))
            continue
        kind = kinds[0]
        value = item[kind]
        if kind == "slot_was_set":
            value = _slot_pairs(value, rule, shown, line, problems)
        steps.append(Step(kind, value, line))
    return steps


def _slot_pairs(value: Any, rule: str, shown: str, line: int,
                problems: list[Problem]) -> tuple[tuple[str, Any], ...]:
    pairs: list[tuple[str, Any]] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            pairs.extend(entry.items())
        elif isinstance(entry, str):
            pairs.append((entry, ...))  # any non-empty value
        else:
            problems.append(Problem(shown, line, f"rule '{rule}': slot_was_set entries are "
                                    "'- slot: value' or '- slot'"))
    return tuple(pairs)
