"""The story policy: the next action from the recent history, learnt by heart from stories.

This is Rasa's ``MemoizationPolicy`` made deterministic, with ``AugmentedMemoization``'s
forgetting. A conversation is a sequence of states, one per decision of the bot; a state
is the previous action, the user's intent and entity names (only right after the user
spoke), the slots that ``influence_conversation`` (text and list: set or not; bool,
categorical, float: the value) and the active loop. Each story teaches, for every action
it takes, "after these states, this action", for the last 1 to ``max_history`` states
(after the story's last action the bot listens). To predict, the longest window of the
current history that a story taught wins; a window taught two different actions is
ambiguous and predicts nothing (``parley data validate`` reports it: ``conflicts``).

A form's own turns are the form's business: states while a loop is active are skipped,
and its end makes the form the previous action (so "after the form, do X" stories work).
Nothing generalises beyond what the stories say: that is what Rasa's TED does and Parley
does not (the engine falls back to the intent's response, then the core fallback).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from brain.dialogue.domain import Domain, Slot
from brain.dialogue.history import session_records
from brain.dialogue.rule_matching import LogRecord
from brain.dialogue.stories import StoryStep, load_story_fragments
from brain.dialogue.story_graph import StoryConversation, build_story_graph
from brain.dialogue.tracker import REQUESTED_SLOT, Tracker

__all__ = ["ACTION_LISTEN", "State", "StoryConflict", "StoryPolicy", "load_story_policy",
           "story_records"]

ACTION_LISTEN = "action_listen"


class State(NamedTuple):
    prev_action: str | None  # None only in a conversation's first state
    intent: str | None
    entities: tuple[str, ...]
    slots: tuple[tuple[str, Hashable], ...]
    active_loop: str | None


@dataclass(frozen=True, slots=True)
class StoryConflict:
    """The same ``history`` taught different actions; ``taught``: (action, step) for
    each, the step being where a story first took it (the user step for a listen)."""

    history: tuple[State, ...]
    taught: tuple[tuple[str, StoryStep], ...]


class StoryPolicy:
    """What the stories teach (see the module docstring); empty without stories."""

    def __init__(self, conversations: Sequence[StoryConversation], domain: Domain, *,
                 max_history: int = 5) -> None:
        self.max_history = max_history
        self._domain = domain
        self._slots = [s for _, s in sorted(domain.slots.items()) if s.influence_conversation]
        self._table: dict[tuple[State, ...], dict[str, StoryStep]] = {}
        for conversation in conversations:
            self._learn(conversation)

    def __bool__(self) -> bool:
        return bool(self._table)

    def _learn(self, conversation: StoryConversation) -> None:
        records, steps, end_slots, end_loop = story_records(conversation.steps, self._domain)
        states, labels = self.timeline(records, end_slots, end_loop)
        if end_loop is None and steps:
            labels.append((len(states) - 1, ACTION_LISTEN, len(steps) - 1))
        for at, action, index in labels:
            for size in range(1, min(self.max_history, at + 1) + 1):
                key = tuple(states[at - size + 1:at + 1])
                self._table.setdefault(key, {}).setdefault(action, steps[index])

    def predict(self, tracker: Tracker) -> str | None:
        """The next action for ``tracker``'s session, or None: no story covers it, a form
        is active, or the stories disagree."""
        if not self._table or tracker.active_form is not None:
            return None
        records = session_records(tracker.current_session(), tracker.initial_slots,
                                  self._domain.entities)
        states, _ = self.timeline(records, tracker.slots, tracker.active_form)
        for size in range(min(self.max_history, len(states)), 0, -1):
            actions = self._table.get(tuple(states[-size:]))
            if actions:
                return next(iter(actions)) if len(actions) == 1 else None
        return None

    def timeline(self, records: Sequence[LogRecord], end_slots: Mapping[str, Any],
                 end_loop: str | None) -> tuple[list[State], list[tuple[int, str, int]]]:
        """The states of ``records`` (plus the state after them, unless a loop is active)
        and the decisions: (state index, action taken there, record index)."""
        states: list[State] = []
        labels: list[tuple[int, str, int]] = []
        prev: str | None = None
        user: tuple[str | None, tuple[str, ...]] = (None, ())
        for index, record in enumerate(records):
            if record.kind == "active_loop":
                if record.value is None and record.active_form is not None:
                    prev, user = record.active_form, (None, ())  # the form ended
                continue
            if record.active_form is not None:
                continue  # the form handles the turns of its loop
            states.append(State(prev, *user, self._features(record.slots), None))
            if record.kind == "intent":
                labels.append((len(states) - 1, ACTION_LISTEN, index))
                prev, user = ACTION_LISTEN, (record.value, record.entities)
            else:
                labels.append((len(states) - 1, str(record.value), index))
                prev, user = str(record.value), (None, ())
        if end_loop is None:
            states.append(State(prev, *user, self._features(end_slots), None))
        return states, labels

    def conflicts(self) -> list[StoryConflict]:
        """Histories of a whole window (``max_history`` states, or back to the start)
        taught different actions; one per set of story steps."""
        found: dict[frozenset[tuple[str, int]], StoryConflict] = {}
        for key, actions in self._table.items():
            whole = len(key) == self.max_history or key[0].prev_action is None
            if len(actions) < 2 or not whole:
                continue
            taught = tuple(sorted(actions.items(), key=lambda a: (a[1].path, a[1].line)))
            found.setdefault(frozenset((s.path, s.line) for _, s in taught),
                             StoryConflict(key, taught))
        return list(found.values())

    def _features(self, slots: Mapping[str, Any]) -> tuple[tuple[str, Hashable], ...]:
        found = []
        for slot in self._slots:
            feature = _feature(slot, slots.get(slot.name))
            if feature is not None:
                found.append((slot.name, feature))
        return tuple(found)


def _feature(slot: Slot, value: Any) -> Hashable | None:
    """How Rasa featurizes a slot: text and list by presence, the others by value."""
    if value is None or (slot.type == "list" and value in ([], ())):
        return None
    if value is ... or slot.type in ("text", "list"):
        return True
    if slot.type == "bool":
        return value is True or str(value).lower() == "true"
    if slot.type == "categorical":
        text = str(value).lower()
        return text if text in {v.lower() for v in slot.values} else "__other__"
    if slot.type == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return True
        low = slot.min_value if slot.min_value is not None else number
        high = slot.max_value if slot.max_value is not None else number
        return min(max(number, low), high)
    return True


def story_records(steps: Sequence[StoryStep], domain: Domain
                  ) -> tuple[list[LogRecord], list[StoryStep], dict[str, Any], str | None]:
    """A story's steps as the records a live session has (``brain.dialogue.history``),
    the step of each record, and the slots and loop at its end. A form's action starts
    the form, as it does live."""
    slots = domain.initial_slots()
    active: str | None = None
    records: list[LogRecord] = []
    origins: list[StoryStep] = []
    for step in steps:
        if step.kind == "slot_was_set":
            slots.update(dict(step.value))
            continue
        if step.kind == "active_loop" and step.value == active:
            continue  # the form's action already started it
        kind = "action" if step.kind == "action" else step.kind
        records.append(LogRecord(kind, step.value, dict(slots), active,
                                 step.kind == "intent" and not any(
                                     r.kind == "intent" for r in records), step.entities))
        origins.append(step)
        if step.kind == "action" and step.value in domain.forms and active != step.value:
            records.append(LogRecord("active_loop", step.value, dict(slots), active))
            origins.append(step)
            active = step.value
        elif step.kind == "active_loop":
            active = step.value
            if active is None:
                slots[REQUESTED_SLOT] = None
    return records, origins, slots, active


def load_story_policy(bot_dir: Path, domain: Domain, *, max_history: int = 5) -> StoryPolicy:
    """The policy of the bot's stories; ``BotDataError`` names file and line of defects."""
    graph = build_story_graph(load_story_fragments(bot_dir))
    return StoryPolicy(graph.conversations, domain, max_history=max_history)
