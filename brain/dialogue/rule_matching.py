"""Which rule step comes next, given what happened so far in this turn.

A turn's log is the user's intent followed by the actions run and the form starts/stops
they caused, each record with the state (slots, active form) just before it. A rule that
starts with ``intent`` aligns with the user record; one that starts with ``action``
aligns with any action record (how "after the form completes, do X" rules continue a
turn). Aligned steps must account for every later action and form record in order; the
first step left over is the prediction, if it is an action. A rule's ``history`` (what it
says came before the user turn: previous bot actions, earlier user turns) must be the most
recent records before this turn's message (``prior``, from the tracker's session:
``brain.dialogue.history``). The most specific match wins: more matched records (history
included), then more conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from brain.dialogue.rules import Rule, Step

__all__ = ["LogRecord", "Prediction", "predict_next"]


@dataclass(frozen=True, slots=True)
class LogRecord:
    """``kind`` is intent, action or active_loop; ``slots`` and ``active_form`` are the
    state just before it; ``entities``: the entity names of a user message."""

    kind: str
    value: Any
    slots: Mapping[str, Any] = field(default_factory=dict)
    active_form: str | None = None
    session_start: bool = False
    entities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    rule: Rule
    action: str
    last_step: bool  # the predicted action is the rule's last action step


def predict_next(rules: Sequence[Rule], log: Sequence[LogRecord], *, slots: Mapping[str, Any],
                 form_conditioned_only: bool | None = None,
                 prior: Sequence[LogRecord] = ()) -> Prediction | None:
    """The next action by the rules, or ``None``.

    ``form_conditioned_only``: True keeps only rules whose condition names an
    ``active_loop``; False only those that do not; None keeps all. ``prior``: the
    session's records before this turn's message, for rules with a ``history``.
    """
    best: tuple[int, int, Prediction] | None = None
    for rule in rules:
        names_loop, _ = rule.condition_loop()
        if form_conditioned_only is not None and names_loop != form_conditioned_only:
            continue
        earlier = _history_length(rule, prior, log)
        if earlier is None:
            continue
        for start in _alignments(rule, log):
            matched = _match(rule, log, start, slots)
            if matched is None:
                continue
            consumed, prediction = matched
            score = (consumed + earlier, len(rule.condition))
            if best is None or score > best[:2]:
                best = (*score, prediction)
    return best[2] if best else None


def _alignments(rule: Rule, log: Sequence[LogRecord]) -> list[int]:
    if not rule.steps or not log:
        return []
    first = rule.steps[0]
    if first.kind == "intent":
        return [0] if log[0].kind == "intent" else []
    return [i for i, r in enumerate(log) if r.kind == "action" and r.value == first.value]


def _history_length(rule: Rule, prior: Sequence[LogRecord],
                    log: Sequence[LogRecord]) -> int | None:
    """How many prior records the rule's history matched (0 without one); None if the
    history is not what happened right before this turn."""
    if not rule.history:
        return 0
    records = [s for s in rule.history if s.kind != "slot_was_set"]
    first = len(prior) - len(records)
    if first < 0 or (rule.conversation_start and first != 0) or not log:
        return None
    position = first
    for step in rule.history:
        if step.kind == "slot_was_set":
            current = prior[position].slots if position < len(prior) else log[0].slots
            if not _holds(step, current, None):
                return None
            continue
        record = prior[position]
        if record.kind != step.kind or record.value != step.value:
            return None
        position += 1
    anchor = prior[first] if records else log[0]
    if not all(_holds(c, anchor.slots, anchor.active_form) for c in rule.condition):
        return None
    return len(records)


def _match(rule: Rule, log: Sequence[LogRecord], start: int,
           slots: Mapping[str, Any]) -> tuple[int, Prediction] | None:
    anchor = log[start]
    if rule.conversation_start and not rule.history and not anchor.session_start:
        return None
    if not rule.history and not all(_holds(c, anchor.slots, anchor.active_form)
                                    for c in rule.condition):
        return None
    position = start
    for index, step in enumerate(rule.steps):
        if step.kind == "slot_was_set":
            current = log[position].slots if position < len(log) else slots
            if not _holds(step, current, None):
                return None
            continue
        if position >= len(log):
            if step.kind != "action":
                return None
            last = not any(s.kind == "action" for s in rule.steps[index + 1:])
            return position - start, Prediction(rule, step.value, last)
        record = log[position]
        if record.kind != step.kind or record.value != step.value:
            return None
        position += 1
    return None  # every step already happened: this rule has nothing left to say


def _holds(step: Step, slots: Mapping[str, Any], active_form: str | None) -> bool:
    if step.kind == "active_loop":
        return bool(step.value == active_form)
    for name, value in step.value:
        current = slots.get(name)
        if value is ...:
            if current in (None, "", []):
                return False
        elif current != value:
            return False
    return True
