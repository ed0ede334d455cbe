"""``parley data validate`` on stories: unknown names, and conflicts with both places."""

from __future__ import annotations

from pathlib import Path

from brain.validation import format_warning, validate_bot
from tests.brain.dialogue.test_memoization import TWO_CONTEXTS, _bot


def _errors(folder: Path) -> list[str]:
    return [str(p) for p in validate_bot(folder).errors]


def _conflicts(folder: Path) -> list[str]:
    """The conflict warnings (they stop neither train nor run); asserts no error."""
    report = validate_bot(folder)
    assert report.errors == ()
    return [str(p) for p in report.warnings if "but story" in p.message or "but rule" in p.message]


def test_stories_that_teach_different_actions_after_the_same_history(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: helped
          steps:
          - intent: need_help
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_happy
        - story: helped differently
          steps:
          - intent: need_help
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_subscribed
        """)
    stories = folder / "data" / "stories.yml"
    assert _conflicts(folder) == [
        f"{stories}:13: story 'helped differently' runs 'utter_subscribed' here, but story "
        f"'helped' ({stories}:7) runs 'utter_happy' after the same history (the start, "
        "user: need_help, utter_did_that_help, user: affirm); neither is predicted there. "
        "Make the stories agree, or tell them apart with a slot or a longer max_history "
        "(now 5)"]


def test_a_conflict_that_a_longer_max_history_resolves(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories=TWO_CONTEXTS)
    assert _conflicts(folder) == []
    (folder / "config.yml").write_text("dialogue:\n  max_history: 3\n", encoding="utf-8")
    stories = folder / "data" / "stories.yml"
    [error] = _conflicts(folder)
    assert error.startswith(f"{stories}:17: story 'b' runs 'utter_bye_b' here, but story "
                            f"'a' ({stories}:9) runs 'utter_bye_a' after the same history")
    assert error.endswith("longer max_history (now 3)")


def test_a_rule_that_contradicts_a_story_is_reported_with_both_lines(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: greet
          steps:
          - intent: greet
          - action: utter_greet
          - action: utter_extra
        - story: thanks
          steps:
          - intent: thanks
          - action: utter_welcome
        """, rules="""\
        - rule: greet
          steps:
          - intent: greet
          - action: utter_greet
        - rule: thanks
          steps:
          - intent: thanks
          - action: utter_happy
        """)
    stories, rules = folder / "data" / "stories.yml", folder / "data" / "rules.yml"
    assert _conflicts(folder) == [
        f"{stories}:6: story 'greet' runs 'utter_extra' here, but rule 'greet' ({rules}:2) "
        "ends the turn after 'utter_greet' (the bot listens: give the rule "
        "'wait_for_user_input: false', or change the story); rules win, so the story is not "
        "followed there",
        f"{stories}:10: story 'thanks' runs 'utter_welcome' here, but rule 'thanks' "
        f"({rules}:6) runs 'utter_happy' after the same history; rules win, so the story is "
        "not followed there"]


def test_rules_and_stories_that_agree_are_fine(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: sad
          steps:
          - intent: greet
          - action: utter_greet
          - intent: deny
          - action: utter_sorry
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_happy
        """, rules="""\
        - rule: greet
          steps:
          - intent: greet
          - action: utter_greet
        - rule: yes, it helped
          steps:
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_happy
        """)
    assert _conflicts(folder) == []


def test_story_names_are_checked_and_story_actions_count_as_used(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: typos
          steps:
          - intent: gret
            entities:
            - colour
          - action: utter_gret
          - slot_was_set:
            - mood: sad
          - active_loop: some_form
        - story: fine
          steps:
          - checkpoint: nowhere
          - intent: greet
          - action: utter_greet
        """)
    stories = folder / "data" / "stories.yml"
    assert _errors(folder) == [
        f"{stories}:4: story 'typos' uses intent 'gret', which is not in the domain",
        f"{stories}:4: story 'typos' names entity 'colour', which is not in the domain",
        f"{stories}:7: story 'typos' runs 'utter_gret': no such response, form or action",
        f"{stories}:8: story 'typos' sets slot 'mood', which is not in the domain",
        f"{stories}:10: story 'typos': 'some_form' is not a form"]
    (stories).write_text(stories.read_text().replace("gret", "greet").replace(
        "- colour", "- order_id").replace("mood", "requested_slot").replace(
        "- active_loop: some_form", ""))
    report = validate_bot(folder)
    assert report.errors == ()
    warnings = [format_warning(w) for w in report.warnings]
    assert f"{stories}:11: warning: story 'fine' starts with checkpoint 'nowhere', which no " \
           "story ends with: it is never used" in warnings
    assert not any("'utter_greet' is never used" in w for w in warnings)
