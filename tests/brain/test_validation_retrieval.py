"""``parley data validate`` on retrieval intents: every sub-intent has its response (an
error: ``utter_faq`` fails for it), every sub-intent response its sub-intent (a warning:
never sent), and rules, mappings and the domain name ``faq``, not ``faq/ask_hours``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from brain.dialogue.domain_reader import load_domain
from brain.errors import BotDataError
from brain.validation import validate_bot
from tests.conftest import FIXTURES

FAQ_BOT = FIXTURES / "bots" / "faq_bot"


@pytest.fixture
def bot(tmp_path: Path) -> Path:
    copy = tmp_path / "faq_bot"
    shutil.copytree(FAQ_BOT, copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _shown(problems: tuple, bot: Path) -> list[str]:
    return [str(p).removeprefix(f"{bot}/") for p in problems]


def _line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_fixture_bot_is_clean() -> None:
    report = validate_bot(FAQ_BOT)
    assert (report.errors, report.warnings) == ((), ())


def test_a_sub_intent_without_its_response_is_an_error_at_its_examples(bot: Path) -> None:
    domain = bot / "domain.yml"
    _edit(domain, '  utter_faq/ask_returns:\n    - text: "You can return anything within '
                  '30 days."\n', "")
    nlu = bot / "data" / "nlu.yml"
    line = _line(nlu, "can i return an item")
    assert _shown(validate_bot(bot).errors, bot) == [
        f"faq_bot/data/nlu.yml:{line}: sub-intent 'faq/ask_returns' has no response "
        "'utter_faq/ask_returns' in the domain, so utter_faq cannot answer it"]


def test_a_response_without_its_sub_intent_is_a_warning(bot: Path) -> None:
    domain = bot / "domain.yml"
    _edit(domain, "  utter_goodbye:\n", '  utter_faq/ask_parking:\n    - text: "No parking."\n'
                                        "  utter_goodbye:\n")
    report = validate_bot(bot)
    assert report.errors == ()
    assert _shown(report.warnings, bot) == [
        f"domain.yml:{_line(domain, 'utter_faq/ask_parking')}: response "
        "'utter_faq/ask_parking' is never sent: no NLU examples of sub-intent "
        "'faq/ask_parking'"]


def test_a_rule_on_a_sub_intent_is_an_error_saying_what_to_write(bot: Path) -> None:
    rules = bot / "data" / "rules.yml"
    _edit(rules, "  - intent: faq\n", "  - intent: faq/ask_hours\n")
    [error] = _shown(validate_bot(bot).errors, bot)
    assert error.startswith(f"data/rules.yml:{_line(rules, 'faq/ask_hours')}: rule 'answer a "
                            "question of the FAQ' uses sub-intent 'faq/ask_hours': the dialogue "
                            "sees only the retrieval intent 'faq'")
    assert "write 'intent: faq' and 'action: utter_faq'" in error


def test_the_retrieval_action_is_known_to_rules_and_its_responses_used(bot: Path) -> None:
    rules = bot / "data" / "rules.yml"
    _edit(rules, "  - action: utter_chitchat\n", "  - action: utter_smalltalk\n")
    assert [re.sub(r":\d+:", ":N:", e) for e in _shown(validate_bot(bot).errors, bot)] == [
        "data/rules.yml:N: rule 'small talk' runs 'utter_smalltalk': no such response, form "
        "or action"]


def test_a_sub_intent_in_the_domains_intents_is_a_warning(bot: Path) -> None:
    domain = bot / "domain.yml"
    _edit(domain, "intents: [greet, goodbye, faq, chitchat]",
          "intents: [greet, goodbye, faq, chitchat, faq/ask_hours]")
    report = validate_bot(bot)
    assert report.errors == ()
    assert [w.message for w in report.warnings] == [
        "intent 'faq/ask_hours': the domain lists the retrieval intent 'faq', not its "
        "sub-intents (the NLU never predicts a sub-intent as the intent)"]


@pytest.mark.parametrize("name", ["utter_faq/ask/hours", "utter_faq/"])
def test_a_malformed_sub_intent_response_name_is_a_domain_error(bot: Path, name: str) -> None:
    domain = bot / "domain.yml"
    _edit(domain, "  utter_faq/ask_hours:\n", f"  {name}:\n")
    with pytest.raises(BotDataError) as caught:
        load_domain(bot)
    assert [p.message for p in caught.value.problems] == [
        f"response '{name}': a sub-intent's response is named utter_<intent>/<sub_intent>, "
        "with one '/'"]
