"""``fallback.yml``: button labels, intents never suggested, the way out; defects by line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from brain.dialogue.domain_reader import load_domain
from brain.errors import BotDataError
from brain.fallback_settings import (
    FallbackSettings,
    load_bot_fallback_settings,
    load_fallback_settings,
    validate_fallback,
)
from brain.validation import validate_bot
from tests.conftest import FIXTURES

BOT = FIXTURES / "bots" / "fallback_bot"
INTENTS = ("greet", "request_refund", "faq/ask_hours", "chitchat")


def _bot(tmp_path: Path, text: str) -> Path:
    (tmp_path / "fallback.yml").write_text(text, encoding="utf-8")
    return tmp_path


def test_no_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_fallback_settings(tmp_path, intents=INTENTS) == FallbackSettings()


def test_the_file_and_the_training_examples_give_the_labels() -> None:
    settings = load_bot_fallback_settings(BOT, load_domain(BOT).intents)
    assert settings.labels["request_refund"] == "Request a refund"   # fallback.yml
    assert settings.labels["faq/ask_returns"] == "Returns"           # a sub-intent's
    assert settings.labels["refund_request"] == "Request refund"     # its first example
    # the first example names an order number: the second is the label
    assert settings.labels["check_order_status"] == "Where is my order"
    assert settings.labels["talk_to_human"] == "I want to talk to a human"
    assert settings.not_suggested == {"change_address"} and settings.handoff


def test_every_defect_is_named_with_its_line(tmp_path: Path) -> None:
    bot = _bot(tmp_path, f"""\
labels:
  greet: Say hello
  request_refnd: Refund
  chitchat: {"x" * 80}
not_suggested: [greet, smalltalk]
handoff: maybe
handoff_label: ""
offer: always
""")
    with pytest.raises(BotDataError) as caught:
        load_fallback_settings(bot, intents=INTENTS)
    shown = [str(p) for p in caught.value.problems]
    assert any(":3:" in p and "'request_refnd' is not an intent" in p for p in shown), shown
    assert any(":4:" in p and "at most 75 characters" in p for p in shown), shown
    assert any(":5:" in p and "'smalltalk' is not an intent" in p for p in shown), shown
    assert any(":6:" in p and "'handoff' must be true or false" in p for p in shown), shown
    assert any(":7:" in p and "'handoff_label': expected a button label" in p
               for p in shown), shown
    assert any(":8:" in p and "unknown key 'offer'" in p for p in shown), shown
    assert len(validate_fallback(bot, INTENTS)) == 6


def test_bot_checks_report_fallback_yml(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder)
    assert validate_bot(folder).errors == ()
    (folder / "fallback.yml").write_text("labels:\n  faq/ask_hourz: Hours\n", encoding="utf-8")
    errors = [str(p) for p in validate_bot(folder).errors]
    assert errors == [f"{folder / 'fallback.yml'}:2: labels: 'faq/ask_hourz' is not an intent "
                      "of the bot (it is never suggested)"]
