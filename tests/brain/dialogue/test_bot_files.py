"""Reading domain.yml and rules, and ``validate_bot`` catching each listed defect."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brain.dialogue.domain_reader import load_domain
from brain.dialogue.rules import load_rules
from brain.errors import BotDataError
from brain.validation import ValidationReport, format_warning, validate_bot
from tests.conftest import FIXTURES


def test_domain_of_the_fixture_bot(dialogue_bot: Path) -> None:
    domain = load_domain(dialogue_bot)
    assert domain.forms["booking_form"].required_slots == ("guests", "name", "confirmed")
    assert domain.slots["guests"].min_value == 1 and domain.slots["vip"].initial_value is False
    mapping = domain.slots["name"].mappings[1]
    assert (mapping.type, mapping.not_intent, mapping.conditions[0].requested_slot) == (
        "from_text", ("cancel", "opening_hours"), "name")
    assert domain.responses["utter_greet"][3].channel == "slack"
    assert domain.session.session_expiration_time == 30


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_unsupported_domain_keys_are_reported_with_line(tmp_path: Path) -> None:
    _write(tmp_path, "domain.yml", """\
        version: "3.1"
        intents: [greet]
        slots:
          mood:
            type: text
            influence_conversation: false
            auto_fill: true
            mappings:
              - type: from_llm
        responses:
          utter_greet:
            - text: hi
              custom: {blocks: []}
        e2e_actions: []
        """)
    with pytest.raises(BotDataError) as caught:
        load_domain(tmp_path)
    text = str(caught.value)
    assert "domain.yml:7: unsupported key 'auto_fill' in slot 'mood'" in text
    assert "domain.yml:9: slot 'mood': a mapping needs a type among" in text
    assert "domain.yml:13: unsupported key 'custom' in response 'utter_greet'" in text
    assert "domain.yml:14: unsupported key 'e2e_actions' in the domain" in text


def test_rules_with_unsupported_shapes_are_reported(tmp_path: Path) -> None:
    _write(tmp_path, "data/rules.yml", """\
        rules:
        - rule: nothing after the last user turn
          steps:
          - intent: greet
          - action: utter_greet
          - intent: goodbye
          - active_loop: null
        - rule: odd step
          steps:
          - intent: greet
          - checkpoint: x
          - action: utter_greet
        - rule: no actions
          steps:
          - intent: greet
          unknown_key: 1
        """)
    with pytest.raises(BotDataError) as caught:
        load_rules(tmp_path)
    text = str(caught.value)
    assert ("rules.yml:2: rule 'nothing after the last user turn' has no action step after "
            "its last user turn") in text
    assert "rules.yml:11: rule 'odd step': a step is one of" in text
    assert "rules.yml:16: unsupported key 'unknown_key' in rule 'no actions'" in text
    assert "rules.yml:13: rule 'no actions' has no action step" in text


def test_validate_catches_each_listed_defect() -> None:
    bot = FIXTURES / "bots" / "defective_bot"
    report = validate_bot(bot)
    assert [str(p) for p in report.errors] == [
        f"{bot}/data/rules.yml:9: rule 'thank' uses intent 'thank_you', which is not in the "
        "domain",
        f"{bot}/data/rules.yml:14: rule 'missing action' runs 'action_does_not_exist': no such "
        "response, form or action"]
    assert [format_warning(p) for p in report.warnings] == [
        f"{bot}/domain.yml:10: warning: slot 'colour' has no mappings (use '- type: custom' "
        "for slots set by actions)",
        f"{bot}/domain.yml:17: warning: response 'utter_never_said' is never used",
        f"{bot}/domain.yml:2: warning: intent 'ask_price' has no NLU examples"]


def test_validate_passes_a_consistent_bot(dialogue_bot: Path) -> None:
    assert validate_bot(dialogue_bot) == ValidationReport()
