"""The story reader (``stories:``) and the stitching of checkpoints into conversations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brain.dialogue.stories import load_story_fragments
from brain.dialogue.story_graph import build_story_graph
from brain.errors import BotDataError


def _stories(folder: Path, text: str, name: str = "stories.yml") -> Path:
    path = folder / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _flow(steps: tuple) -> list[str]:  # type: ignore[type-arg]
    return [f"{s.kind}:{s.value}" for s in steps]


def test_steps_with_entities_user_text_slots_and_loops_are_read(tmp_path: Path) -> None:
    _stories(tmp_path, """\
        stories:
        - story: order
          steps:
          - user: |
              where is ORD-1
            intent: check_order
            entities:
            - order_id: ORD-1
          - action: order_form
          - active_loop: order_form
          - slot_was_set:
            - order_id: ORD-1
            - requested_slot
          - active_loop: null
          - action: utter_done
        """)
    [fragment] = load_story_fragments(tmp_path)
    assert fragment.name == "order" and fragment.line == 2
    intent, *_ = fragment.steps
    assert (intent.kind, intent.value, intent.entities, intent.line) == (
        "intent", "check_order", ("order_id",), 4)
    assert fragment.steps[3].value == (("order_id", "ORD-1"), ("requested_slot", ...))
    assert _flow(fragment.steps[4:]) == ["active_loop:None", "action:utter_done"]


def test_or_gives_one_story_per_alternative(tmp_path: Path) -> None:
    _stories(tmp_path, """\
        stories:
        - story: thanks
          steps:
          - intent: greet
          - action: utter_greet
          - or:
            - intent: thank
            - intent: affirm
          - action: utter_welcome
        """)
    fragments = load_story_fragments(tmp_path)
    assert [_flow(f.steps)[2] for f in fragments] == ["intent:thank", "intent:affirm"]
    assert {f.name for f in fragments} == {"thanks"}


def test_checkpoints_stitch_stories_into_conversations(tmp_path: Path) -> None:
    _stories(tmp_path, """\
        stories:
        - story: greeting
          steps:
          - intent: greet
          - action: utter_greet
          - checkpoint: asked_mood
        - story: happy
          steps:
          - checkpoint: asked_mood
          - intent: mood_great
          - action: utter_happy
        - story: sad
          steps:
          - checkpoint: asked_mood
          - intent: mood_unhappy
          - action: utter_cheer_up
        - story: orphan
          steps:
          - checkpoint: nobody_ends_here
          - intent: bye
          - action: utter_bye
        """)
    graph = build_story_graph(load_story_fragments(tmp_path))
    assert [c.stories for c in graph.conversations] == [("greeting", "happy"),
                                                        ("greeting", "sad")]
    assert _flow(graph.conversations[1].steps) == [
        "intent:greet", "action:utter_greet", "intent:mood_unhappy", "action:utter_cheer_up"]
    assert [(name, f.name) for name, f in graph.never_reached] == [("nobody_ends_here",
                                                                    "orphan")]


def test_a_checkpoint_loop_ends(tmp_path: Path) -> None:
    _stories(tmp_path, """\
        stories:
        - story: start
          steps:
          - intent: greet
          - action: utter_greet
          - checkpoint: again
        - story: loop
          steps:
          - checkpoint: again
          - intent: more
          - action: utter_more
          - checkpoint: again
        """)
    graph = build_story_graph(load_story_fragments(tmp_path))
    assert [c.stories for c in graph.conversations] == [("start", "loop")]


def test_defects_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _stories(tmp_path, """\
        stories:
        - story: bad
          colour: red
          steps:
          - user: hello there
          - bot: Hi!
          - intent: greet
          - checkpoint: middle
          - action: utter_greet
          - or:
            - checkpoint: x
          - slot_was_set:
            - 3
        - nonsense
        """)
    with pytest.raises(BotDataError) as caught:
        load_story_fragments(tmp_path)
    text = str(caught.value)
    for line, message in [
            (3, "unsupported key 'colour' in story 'bad' (supported: story, steps, metadata)"),
            (5, "story 'bad': a 'user' step needs its 'intent'"),
            (6, "story 'bad': a step is one of intent, action, slot_was_set, active_loop, "
                "checkpoint, or ('bot' text steps are not supported"),
            (8, "story 'bad': a checkpoint goes at the start or the end of a story"),
            (11, "story 'bad': an 'or' alternative is an intent, action, slot_was_set or "
                 "active_loop step"),
            (12, "story 'bad': slot_was_set entries are '- slot: value' or '- slot'"),
            (14, "a story needs 'story: name' and a 'steps' list")]:
        assert f"{path}:{line}: {message}" in text
