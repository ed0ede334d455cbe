"""The checks of a bot's stories for ``parley data validate`` (``brain.validation``).

Errors: a story naming an intent, entity, action, form or slot that does not exist (that
story could never be followed).

Warnings, which stop neither ``parley train`` nor ``parley run`` (as Rasa trains despite
them; ``--fail-on-warnings`` makes validation fail): two stories that teach different
actions after the same history (Rasa's story structure conflict: neither is predicted
there, ``brain.dialogue.memoization``, where Rasa's TED would pick one); a rule that
contradicts a story (rules win, so the story is not followed: the rule runs another action
where the story runs one, runs one where the story waits for the user, or ends the turn
where the story goes on). Each names both places, file and line. Also warnings: a
checkpoint that starts stories no story ends with (they are never used), one that ends
stories no story starts with, and stories too entangled to stitch them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from brain.dialogue.domain import Domain
from brain.dialogue.memoization import (
    ACTION_LISTEN,
    State,
    StoryConflict,
    StoryPolicy,
    story_records,
)
from brain.dialogue.rule_matching import LogRecord, Prediction, predict_next
from brain.dialogue.rules import Rule
from brain.dialogue.stories import StoryFragment, StoryStep
from brain.dialogue.story_graph import (
    MAX_CONVERSATIONS,
    StoryConversation,
    StoryGraph,
    build_story_graph,
)
from brain.dialogue.tracker import REQUESTED_SLOT
from brain.errors import BotDataError, Problem
from brain.policy_settings import load_policy_settings

__all__ = ["graph_warnings", "rule_conflicts", "story_conflicts", "unknown_names",
           "validate_stories"]


def validate_stories(bot_dir: Path, domain: Domain, rules: Sequence[Rule],
                     stories: Sequence[StoryFragment], known_actions: set[str]
                     ) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the stories. Conflicts are looked for only when every story
    names things that exist (an unknown name is the first thing to fix)."""
    errors = unknown_names(stories, domain, known_actions)
    if errors or not stories:
        return errors, []
    graph = build_story_graph(stories)
    try:
        max_history = load_policy_settings(bot_dir).max_history
    except BotDataError:  # reported with config.yml's other problems
        max_history = 5
    conflicts = story_conflicts(StoryPolicy(graph.conversations, domain,
                                            max_history=max_history))
    conflicts += rule_conflicts(graph.conversations, rules, domain)
    return errors, [*conflicts, *graph_warnings(graph)]


def unknown_names(fragments: Sequence[StoryFragment], domain: Domain,
                  known_actions: set[str]) -> list[Problem]:
    """Every step naming something the domain (or actions.py) does not have."""
    found: dict[tuple[str, int, str], Problem] = {}  # an 'or' story repeats its steps
    slots = {*domain.slots, REQUESTED_SLOT}
    for fragment in fragments:
        for step in fragment.steps:
            for message in _unknown(step, domain, known_actions, slots):
                found.setdefault((step.path, step.line, message),
                                 Problem(step.path, step.line, message))
    return list(found.values())


def _unknown(step: StoryStep, domain: Domain, known_actions: set[str],
             slots: set[str]) -> list[str]:
    where = f"story '{step.story}'"
    if step.kind == "intent":
        problems = [] if step.value in domain.intents else [
            f"{where} uses intent '{step.value}', which is not in the domain"]
        return problems + [f"{where} names entity '{e}', which is not in the domain"
                           for e in step.entities if e not in domain.entities]
    if step.kind == "action" and step.value not in known_actions:
        return [f"{where} runs '{step.value}': no such response, form or action"]
    if step.kind == "active_loop" and step.value not in (None, *domain.forms):
        return [f"{where}: '{step.value}' is not a form"]
    if step.kind == "slot_was_set":
        return [f"{where} sets slot '{name}', which is not in the domain"
                for name in sorted({name for name, _ in step.value} - slots)]
    return []


def graph_warnings(graph: StoryGraph) -> list[Problem]:
    found = [Problem(f.path, f.line, f"story '{f.name}' starts with checkpoint '{name}', "
                     "which no story ends with: it is never used")
             for name, f in graph.never_reached]
    found += [Problem(f.path, f.line, f"story '{f.name}' ends with checkpoint '{name}', "
                      "which no story starts with") for name, f in graph.leads_nowhere]
    if graph.truncated:
        found.append(Problem(graph.conversations[0].steps[0].path, None, "the stories' "
                             f"checkpoints make more than {MAX_CONVERSATIONS} conversations; "
                             "the rest is not learnt"))
    return found


def story_conflicts(policy: StoryPolicy) -> list[Problem]:
    """Histories that stories teach different actions, at the later story's step."""
    found = []
    for conflict in policy.conflicts():
        (first, at), *others = conflict.taught
        for action, step in others:
            found.append(Problem(step.path, step.line, f"story '{step.story}' {_does(action)} "
                                 f"here, but story '{at.story}' ({at.path}:{at.line}) "
                                 f"{_does(first)} after the same history "
                                 f"({_describe(conflict)}); neither is predicted there. Make "
                                 "the stories agree, or tell them apart with a slot or a "
                                 f"longer max_history (now {policy.max_history})"))
    return found


def _does(action: str) -> str:
    return "waits for the user" if action == ACTION_LISTEN else f"runs '{action}'"


def _describe(conflict: StoryConflict) -> str:
    return ", ".join(_state(s) for s in conflict.history)


def _state(state: State) -> str:
    if state.prev_action is None:
        text = "the start"
    elif state.intent is not None:
        text = f"user: {state.intent}" + (f" {list(state.entities)}" if state.entities else "")
    else:
        text = state.prev_action
    slots = ", ".join(f"{name}={value}" for name, value in state.slots)
    return f"{text} [{slots}]" if slots else text


def rule_conflicts(conversations: Sequence[StoryConversation], rules: Sequence[Rule],
                   domain: Domain) -> list[Problem]:
    """Each turn of each story replayed against the rules, as the engine runs them."""
    found: dict[str, Problem] = {}
    for conversation in conversations:
        records, steps, end_slots, _ = story_records(conversation.steps, domain)
        turns = [i for i, r in enumerate(records) if r.kind == "intent"]
        for start, stop in zip(turns, [*turns[1:], len(records)], strict=True):
            if records[start].active_form is None:
                slots = records[stop].slots if stop < len(records) else end_slots
                for problem in _turn_conflicts(rules, records, steps, start, stop, slots):
                    found.setdefault(str(problem), problem)
    return list(found.values())


def _turn_conflicts(rules: Sequence[Rule], records: list[LogRecord], steps: list[StoryStep],
                    start: int, stop: int, end_slots: Mapping[str, Any]) -> list[Problem]:
    prior = records[:start]
    ended: Prediction | None = None  # a rule's last action just ran: the engine listens
    for index in range(start + 1, stop + 1):
        record = records[index] if index < stop else None
        if record is not None and record.kind == "active_loop" and record.value is None:
            ended = None  # a form ended: its submit rules and stories go on
        if record is not None and (record.kind != "action" or record.active_form is not None):
            continue
        slots = record.slots if record is not None else end_slots
        step = steps[index] if record is not None else steps[stop - 1]
        if ended is not None and record is not None:
            return [_problem(step, ended.rule, f"runs '{record.value}'", f"ends the turn after "
                             f"'{ended.action}' (the bot listens: give the rule "
                             "'wait_for_user_input: false', or change the story)")]
        prediction = predict_next(rules, records[start:index], slots=slots, prior=prior)
        if record is None:
            if prediction is not None and prediction.action != ACTION_LISTEN:
                return [_problem(step, prediction.rule, f"waits for the user after "
                                 f"'{step.value}'", f"runs '{prediction.action}' after the "
                                 "same history")]
            return []
        if prediction is not None and prediction.action != record.value:
            return [_problem(step, prediction.rule, f"runs '{record.value}'",
                             f"runs '{prediction.action}' after the same history")]
        if prediction is not None and prediction.last_step and prediction.rule.wait_for_user_input:
            ended = prediction
    return []


def _problem(step: StoryStep, rule: Rule, story_does: str, rule_does: str) -> Problem:
    return Problem(step.path, step.line, f"story '{step.story}' {story_does} here, but rule "
                   f"'{rule.name}' ({rule.path}:{rule.line}) {rule_does}; rules win, so the "
                   "story is not followed there")
