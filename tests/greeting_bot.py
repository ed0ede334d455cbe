"""A copy of the dialogue fixture bot that greets when a conversation opens.

It adds ``utter_conversation_start`` (with a button) and a rule with
``conversation_start: true`` that answers a first question about the opening hours
differently from later ones (which get the intent's response, ``utter_opening_hours``), so
a test can tell whether the opening counted as the person's turn. ``greet_on_start`` writes
that switch into ``config.yml``. The NLU data is unchanged: a model trained on the dialogue
bot serves this copy too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FIXTURES

if TYPE_CHECKING:
    from tests.processes import WorkerProcess

GREETING = "Welcome! I can book you a table."
FIRST_HOURS = "Nice to meet you! We open at 18:00."
LATER_HOURS = "We open at 18:00."

_RESPONSES = f"""responses:
  utter_conversation_start:
    - text: "{GREETING}"
      buttons:
        - title: "Book a table"
          payload: /book_table
  utter_first_hours:
    - text: "{FIRST_HOURS}"
"""

_RULES = """version: "3.1"
rules:
- rule: hours asked first in a conversation
  conversation_start: true
  steps:
  - intent: opening_hours
  - action: utter_first_hours
"""


def greeting_bot(where: Path, *, greet_on_start: bool | None = None) -> Path:
    bot = where / "greeting_bot"
    shutil.copytree(FIXTURES / "bots" / "dialogue_bot", bot,
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    domain = bot / "domain.yml"
    text = domain.read_text()
    assert text.count("\nresponses:\n") == 1
    domain.write_text(text.replace("\nresponses:\n", "\n" + _RESPONSES))
    (bot / "data" / "start_rules.yml").write_text(_RULES)
    if greet_on_start is not None:
        (bot / "config.yml").write_text(f"greet_on_start: {str(greet_on_start).lower()}\n")
    return bot


def start_worker(bot: Path, model: Path, log: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> WorkerProcess:
    """A real ``celery worker`` serving ``bot``."""
    from tests.processes import WorkerProcess

    return WorkerProcess(model, log, bot=bot)
