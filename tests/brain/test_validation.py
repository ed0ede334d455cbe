"""``validate_bot``: which defects are errors and which warnings, each with file and line;
and that what it calls an error really breaks the bot at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brain.dialogue.domain_reader import load_domain
from brain.dialogue.responses import ResponseRenderer
from brain.validation import ValidationReport, format_warning, validate_bot
from tests.conftest import FIXTURES, REPO

BOTS = FIXTURES / "bots"
APOLOGY = "Sorry, I can't give you that information right now."


def _errors(bot: Path) -> list[str]:
    return [str(p).removeprefix(f"{bot}/") for p in validate_bot(bot).errors]


def test_rule_defects_are_errors_on_their_lines() -> None:
    bot = BOTS / "broken_rules_bot"
    assert _errors(bot) == [
        "data/rules.yml:10: rule 'thank' uses intent 'thanks', which is not in the domain",
        "data/rules.yml:19: rule 'submit order': 'ordr_form' is not a form",
        "data/rules.yml:27: rule 'big order' checks slot 'colour', which is not in the domain",
        "data/rules.yml:29: rule 'big order' runs 'action_charge': no such response, form or "
        "action",
    ]
    assert validate_bot(bot).warnings == ()


def test_domain_defects_are_errors_on_their_lines() -> None:
    bot = BOTS / "broken_domain_bot"
    unknown = ("is not a slot of the domain, nor a value Parley or an action passes{}; the user "
               "would get \"Sorry, I can't give you that information\" instead")
    assert _errors(bot) == [
        "domain.yml:9: slot 'topping' maps entity 'toping', which is not in 'entities'",
        "domain.yml:14: slot 'size': a mapping on intent 'choose_size', which is not in the "
        "domain (it never applies)",
        "domain.yml:19: form 'pizza_form' requires 'crust', which is not a slot",
        "domain.yml:23: response 'utter_greet': placeholder '{name}' " + unknown.format(""),
        "domain.yml:25: response 'utter_greet': a condition on 'vip', which is not a slot",
        "domain.yml:33: response 'utter_order_pizza': placeholder '{totl}' "
        + unknown.format(" (did you mean '{total}'?)"),
        "domain.yml:35: response 'utter_price': placeholder '{total:.2f}' fails at run time: "
        "values are filled in as text, so only text formats and !r, !s, !a work",
        "domain.yml:35: response 'utter_price': placeholder '{}' has no name; placeholders are "
        "filled by name, as in '{slot_name}'",
        "domain.yml:37: response 'utter_braces': 'Use {curly braces like this.' cannot be "
        "filled: expected '}' before end of string (write {{ or }} for a literal brace)",
    ]


def test_what_validation_calls_a_broken_response_is_broken_at_run_time() -> None:
    """The placeholder errors above are not style: the renderer apologises or fails."""
    renderer = ResponseRenderer(load_domain(BOTS / "broken_domain_bot"))
    slots = {"topping": "ham", "size": "large", "requested_slot": None}

    def render(name: str, **extra: object) -> str:
        message = renderer.render(name, slots=slots, channel=None, seed="s",
                                  conversation_id="test:1", extra=extra)
        assert message is not None
        return message.text

    assert render("utter_greet") == APOLOGY  # {name}: no such slot; the vip variation never
    assert render("utter_order_pizza", total="12.00") == "A large pizza with ham: 12.00 euros."
    with pytest.raises(ValueError):
        render("utter_price", total=12.0)
    with pytest.raises(ValueError):
        render("utter_braces")


@pytest.mark.parametrize("bot", [REPO / "examples" / "support_bot", BOTS / "dialogue_bot",
                                 BOTS / "echo_bot"], ids=lambda p: p.name)
def test_the_example_and_fixture_bots_are_clean(bot: Path) -> None:
    assert validate_bot(bot) == ValidationReport()


def test_a_folder_of_nlu_data_only_is_clean_when_no_domain_is_required() -> None:
    assert validate_bot(BOTS / "tiny_bot", require_domain=False) == ValidationReport()
    assert [p.message for p in validate_bot(BOTS / "tiny_bot").errors] == ["missing domain.yml"]


def _bot(tmp_path: Path, domain: str, actions: str | None = None,
         nlu_extra: str = "") -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(textwrap.dedent(domain).lstrip())
    (tmp_path / "data" / "nlu.yml").write_text(textwrap.dedent("""\
        version: "3.1"
        nlu:
        - intent: greet
          examples: |
            - hi
            - hello
        """) + textwrap.dedent(nlu_extra))
    if actions is not None:
        (tmp_path / "actions.py").write_text(textwrap.dedent(actions).lstrip())
    return tmp_path


def test_values_parley_and_actions_pass_are_known_placeholders(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        version: "3.1"
        intents: [greet]
        slots:
          amount:
            type: float
            mappings:
              - type: from_text
                conditions:
                  - active_loop: pay_form
        forms:
          pay_form:
            required_slots: [amount]
        actions: [action_pay, action_any]
        responses:
          utter_greet:
            - text: "Hi, asking for {requested_slot}"
          utter_ask_amount:
            - text: "How much?"
          utter_invalid_amount:
            - text: "{value} is not an amount: {reason}."
          utter_paid_card:
            - text: "Paid {amount} by card, receipt {receipt}."
          utter_free_form:
            - text: "Anything goes: {whatever}."
        """, actions="""\
        from brain.actions import action

        @action("action_pay")
        def pay(context):
            context.dispatcher.utter(f"utter_paid_{context.slots['amount']}", receipt="R-1")

        @action("action_any")
        def anything(context):
            values = {"whatever": 1}
            context.dispatcher.utter(response="utter_free_form", **values)
        """)
    assert validate_bot(bot).errors == ()


def test_a_placeholder_an_action_does_not_pass_is_an_error(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        version: "3.1"
        intents: [greet]
        actions: [action_pay]
        responses:
          utter_greet:
            - text: "Hi"
          utter_paid:
            - text: "Paid, receipt {receipt}."
              buttons:
                - title: "Mail {receipt_mail}"
                  payload: /greet
        """, actions="""\
        from brain.actions import action

        @action("action_pay")
        def pay(context):
            context.dispatcher.utter("utter_paid", receipt="R-1")
        """)
    assert [f"{p.line}: {p.message}".split(" is not")[0] for p in validate_bot(bot).errors] == [
        "10: response 'utter_paid': placeholder '{receipt_mail}'"]


def test_slots_without_mappings_are_an_error_only_for_a_form(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        version: "3.1"
        intents: [greet]
        slots:
          note:
            type: text
          email:
            type: text
        forms:
          contact_form:
            required_slots: [email]
        responses:
          utter_greet:
            - text: "Hi"
        """)
    report = validate_bot(bot)
    assert [str(p).removeprefix(f"{bot}/") for p in report.errors] == [
        "domain.yml:6: slot 'email' has no mappings, so form 'contact_form' can never fill it"]
    assert [format_warning(p).removeprefix(f"{bot}/") for p in report.warnings] == [
        "domain.yml:4: warning: slot 'note' has no mappings (use '- type: custom' for slots "
        "set by actions)"]


def test_unused_and_incomplete_parts_are_warnings_with_lines(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        version: "3.1"
        intents: [greet, buy]
        slots:
          item:
            type: text
            mappings:
              - type: from_text
                not_intent: [cancel]
        responses:
          utter_greet:
            - text: "Hi"
          utter_spare:
            - text: "Nobody sends me."
        """, nlu_extra="""\
        - intent: goodbye
          examples: |
            - bye
        """)
    report = validate_bot(bot)
    assert report.errors == ()
    assert [format_warning(p).removeprefix(f"{bot}/") for p in report.warnings[:3]] == [
        "domain.yml:7: warning: slot 'item': not_intent 'cancel' is not in the domain",
        "domain.yml:12: warning: response 'utter_spare' is never used",
        "domain.yml:2: warning: intent 'buy' has no NLU examples"]
    [nlu] = report.warnings[3:]  # NLU files are shown from the bot folder's parent, as ever
    assert format_warning(nlu).endswith("/data/nlu.yml:9: warning: intent 'goodbye' has NLU "
                                        "examples but is not in the domain")
