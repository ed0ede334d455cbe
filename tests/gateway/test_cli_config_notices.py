"""config.yml's notices (Rasa components Parley replaces) surface where a bot is checked or
trained, once each, and count neither as errors nor as warnings."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from gateway.cli import main
from gateway.cli.nlu_commands import train_and_save
from tests.conftest import FIXTURES
from tests.processes import copy_bot

RASA_CONFIG = """\
recipe: default.v1
assistant_id: my-bot
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
  - name: DIETClassifier
    epochs: 100
  - name: FallbackClassifier
    threshold: 0.3
policies:
  - name: RulePolicy
nlu:
  ner_epochs: 2
"""


def _rasa_bot(tmp_path: Path, name: str) -> Path:
    bot = copy_bot(FIXTURES / "bots" / name, tmp_path)
    (bot / "config.yml").write_text(RASA_CONFIG)
    return bot


def test_validate_prints_the_notices_and_passes(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bot = _rasa_bot(tmp_path, "echo_bot")
    assert main(["data", "validate", str(bot)]) == 0
    out = capsys.readouterr().out.splitlines()
    notices = [line for line in out if ": notice: " in line]
    assert [n.split(": notice: ")[1].split(":")[0] for n in notices] == [
        "WhitespaceTokenizer", "CountVectorsFeaturizer", "DIETClassifier"]
    assert notices[0].startswith(f"{bot / 'config.yml'}:5: notice: WhitespaceTokenizer: ")
    assert main(["data", "validate", "--fail-on-warnings", str(bot)]) == 0  # not warnings


@pytest.mark.slow
def test_training_prints_each_notice_once(tmp_path: Path) -> None:
    bot = _rasa_bot(tmp_path, "tiny_bot")
    output = io.StringIO()
    console = Console(file=output, width=100)
    model = train_and_save(bot, tmp_path / "model", seed=0, console=console)
    assert (model / "meta.json").is_file()
    lines = output.getvalue().splitlines()
    diet = [line for line in lines if ": notice: DIETClassifier: " in line]
    assert len(diet) == 1 and "'epochs: 100' is not carried over" in diet[0]
    assert sum(": notice: CountVectorsFeaturizer: " in line for line in lines) == 1
