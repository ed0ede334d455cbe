"""Conversation tests: YAML test stories run against the real bot, step by step.

The format is Rasa's ``test_stories`` where practical (``tests/*.yml`` in the bot folder):

    stories:
    - story: order status, happy path
      steps:
      - user: where is my order ORD-55821
        intent: check_order_status          # optional: the expected intent
      - action: order_status_form           # the turn's actions, exactly and in order
      - action: action_check_order_status
      - slot_was_set:
        - order_id: ORD-55821
      - active_loop: null

Parley additions: ``bot: text`` (some reply of the turn contains the text), ``wait: 90``
(minutes of silence before the next message, for session expiry), and a user step's
``payload: /affirm`` (a button press). After a user step, the listed actions must be
exactly the actions the bot ran; a user step with none listed expects none (silence).

Handoffs (``brain.dialogue.handoff``): ``handoff: billing`` (the last turn handed the
conversation to that team; desk.yml routes it, and a person counts as available),
``agent: text`` (a person at the desk writes; the bot stays silent from then on) and
``handback: true`` or ``handback: {slots: {name: value}, restart_form: true}`` (the desk
gives the conversation back; ``bot:`` steps after it check ``utter_handback``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brain.bot import Bot
from brain.dialogue.engine import TurnResult
from brain.dialogue.events import AgentUttered
from brain.dialogue.handoff import BOT, HandoffOffer, Ownership
from brain.dialogue.retrieval import matches_story_action
from brain.errors import BotDataError, Problem
from brain.handoff.settings import DeskSettings
from brain.nlu.retrieval import intent_as_written
from brain.yaml_source import YamlMap, YamlSeq, load_yaml_file

__all__ = ["Story", "StoryDesk", "StoryResult", "load_stories", "run_story"]

_STEP_KEYS = {"user", "payload", "intent", "action", "bot", "slot_was_set", "active_loop",
              "wait", "handoff", "agent", "handback"}
_KINDS = ("user", "payload", "action", "bot", "slot_was_set", "active_loop", "wait",
          "handoff", "agent", "handback")
_START = 1_800_000_000.0  # a fixed clock: stories replay identically


@dataclass(frozen=True, slots=True)
class StoryStep:
    kind: str
    value: Any
    line: int
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    name: str
    steps: tuple[StoryStep, ...]
    path: str
    line: int


@dataclass
class StoryResult:
    story: Story
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


class StoryDesk:
    """The desk without a desk: desk.yml's routing, and a person always there
    (``available``: conversation tests) or never (the shell, where nobody is)."""

    def __init__(self, settings: DeskSettings, *, available: bool = True) -> None:
        self._settings = settings
        self._available = available

    def offer(self, *, requested_team: str, intent: str | None, slots: Mapping[str, Any],
              channel: str | None) -> HandoffOffer:
        team = self._settings.route(intent=intent, slots=slots, channel=channel or "",
                                    requested_team=requested_team or None)
        hours = team.hours_text() if team.hours is not None else ""
        return HandoffOffer(team=team.name, available=self._available, hours=hours)


def load_stories(bot_dir: Path) -> list[Story]:
    """All stories under ``BOTDIR/tests/``; ``BotDataError`` names file and line of defects."""
    stories: list[Story] = []
    problems: list[Problem] = []
    folder = bot_dir / "tests"
    for path in sorted(folder.rglob("*.yml")) if folder.is_dir() else []:
        doc = load_yaml_file(path, display_path=str(path))
        if not isinstance(doc, YamlMap) or not isinstance(doc.get("stories"), YamlSeq):
            problems.append(Problem(str(path), 1, "a test file needs a 'stories' list"))
            continue
        items = doc["stories"]
        for item, line in zip(items, items.item_lines, strict=True):
            story = _story(item, line, str(path), problems)
            if story is not None:
                stories.append(story)
    if problems:
        raise BotDataError(problems)
    return stories


def _story(item: Any, line: int, shown: str, problems: list[Problem]) -> Story | None:
    if not isinstance(item, YamlMap) or not isinstance(item.get("steps"), YamlSeq):
        problems.append(Problem(shown, line, "a story needs 'story: name' and 'steps'"))
        return None
    steps = []
    for step, step_line in zip(item["steps"], item["steps"].item_lines, strict=True):
        keys = set(step) if isinstance(step, YamlMap) else set()
        kind = next((k for k in _KINDS if k in keys), None)
        if kind is None or keys - _STEP_KEYS or ("intent" in keys and kind not in
                                                 ("user", "payload")):
            problems.append(Problem(shown, step_line, "a step is one of user (with optional "
                                    "intent), payload, action, bot, slot_was_set, "
                                    "active_loop, wait, handoff, agent, handback"))
            continue
        value = step[kind]
        if isinstance(value, str):
            value = value.strip()
        steps.append(StoryStep(kind, value, step_line, step.get("intent")))
    return Story(str(item.get("story", f"story at line {line}")), tuple(steps), shown, line)


def run_story(bot: Bot, story: Story) -> StoryResult:
    """Play ``story`` against ``bot`` with a fixed clock; collect every mismatch."""
    result = StoryResult(story)
    tracker = bot.new_tracker(f"test:{story.name}")
    clock = _START
    turn: TurnResult | None = None
    expected: list[str] = []
    owner = BOT
    for index, step in enumerate(story.steps):
        where = f"step {index + 1} (line {step.line})"
        if step.kind in ("user", "payload", "handback"):
            _check_actions(result, turn, expected, where)
            clock += 10
            expected = []
        if step.kind in ("user", "payload"):
            turn = bot.respond(tracker, str(step.value), message_id=f"{story.name}:{index}",
                               now=clock, owner=owner)
            owner = _owner_after(turn, owner)
            latest = tracker.latest_message
            # faq/ask_hours compares with the selected sub-intent, faq with the intent
            actual_intent = intent_as_written(latest.parse, str(step.intent or "")) if (
                latest) else None
            if step.intent and step.intent != actual_intent:
                result.failures.append(f"{where}: '{step.value}' expected intent "
                                       f"{step.intent}, got {actual_intent}")
        elif step.kind == "handback":
            control = dict(step.value) if isinstance(step.value, dict) else {}
            turn = bot.engine.end_handoff(tracker, {**control, "reason": "handed_back"},
                                          now=clock)
            owner = BOT
        elif step.kind == "agent":
            clock += 10
            tracker.apply(AgentUttered(timestamp=clock, text=str(step.value), agent="story"))
            owner = Ownership("agent", handoff="story")
        elif step.kind == "handoff":
            change = turn.handoff if turn else None
            if change is None or change.kind != "requested" or change.team != step.value:
                got = f"to {change.team}" if change and change.kind == "requested" else "none"
                result.failures.append(f"{where}: expected a handoff to {step.value}, "
                                       f"got {got}")
        elif step.kind == "wait":
            clock += float(step.value) * 60
        elif step.kind == "action":
            expected.append(str(step.value))
        elif step.kind == "bot":
            texts = [m.text for m in turn.messages] if turn else []
            if not any(str(step.value) in t for t in texts):
                result.failures.append(f"{where}: expected a reply containing "
                                       f"'{step.value}', got {texts}")
        elif step.kind == "slot_was_set":
            for name, value in _pairs(step.value):
                if tracker.slots.get(name) != value:
                    result.failures.append(f"{where}: expected slot {name}={value!r}, "
                                           f"got {tracker.slots.get(name)!r}")
        elif step.kind == "active_loop" and tracker.active_form != step.value:
            result.failures.append(f"{where}: expected active_loop {step.value}, "
                                   f"got {tracker.active_form}")
    _check_actions(result, turn, expected, "end of story")
    return result


def _owner_after(turn: TurnResult, owner: Ownership) -> Ownership:
    if turn.handoff is None:
        return owner
    if turn.handoff.kind == "requested":
        return Ownership("queued", handoff="story", offline=turn.handoff.offline)
    return BOT


def _check_actions(result: StoryResult, turn: TurnResult | None, expected: list[str],
                   where: str) -> None:
    if turn is None:
        return
    sent = [m.response for m in turn.messages]
    if len(turn.actions) != len(expected) or not all(
            matches_story_action(e, a, sent) for e, a in zip(expected, turn.actions,
                                                              strict=True)):
        result.failures.append(f"{where}: expected actions {expected}, got {list(turn.actions)}")


def _pairs(value: Any) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            pairs.extend(entry.items())
    return pairs
