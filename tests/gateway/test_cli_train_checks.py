"""``parley train`` and ``parley run`` check the bot as ``parley data validate`` does: errors
stop them before any slow work, with ``file:line: problem`` lines; warnings do not."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO
from tests.processes import copy_bot, run_parley

BOTS = FIXTURES / "bots"
RULE_ERRORS = [
    "data/rules.yml:10: rule 'thank' uses intent 'thanks', which is not in the domain",
    "data/rules.yml:19: rule 'submit order': 'ordr_form' is not a form",
    "data/rules.yml:27: rule 'big order' checks slot 'colour', which is not in the domain",
    "data/rules.yml:29: rule 'big order' runs 'action_charge': no such response, form or action",
]
SPARE = "  utter_spare:\n    - text: \"Nobody sends me.\"\n"


def _with_spare_response(tmp_path: Path) -> Path:
    """The echo bot plus a response nothing sends: a warning only."""
    bot = copy_bot(BOTS / "echo_bot", tmp_path)
    with (bot / "domain.yml").open("a") as domain:
        domain.write("responses:\n" + SPARE)
    return bot


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_train_stops_on_rule_errors_before_training(tmp_path: Path) -> None:
    bot = copy_bot(BOTS / "broken_rules_bot", tmp_path)
    result = run_parley("train", str(bot))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{bot}/{line}" for line in RULE_ERRORS] + [
        "parley: error: the bot's files have 4 errors (listed above)"]
    assert result.stdout == "" and not (bot / "models").exists()


def test_train_stops_on_domain_errors_with_their_lines(tmp_path: Path) -> None:
    bot = copy_bot(BOTS / "broken_domain_bot", tmp_path)
    out = tmp_path / "model.tar.gz"
    result = run_parley("train", str(bot), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ")[0].removeprefix(f"{bot}/") for line in lines[:-1]] == [
        "domain.yml:9", "domain.yml:14", "domain.yml:19", "domain.yml:23", "domain.yml:25",
        "domain.yml:33", "domain.yml:35", "domain.yml:35", "domain.yml:37"]
    assert f"{bot}/domain.yml:23: response 'utter_greet': placeholder '{{name}}' is not a slot" \
        in result.stderr
    assert lines[-1] == "parley: error: the bot's files have 9 errors (listed above)"
    assert "Traceback" not in result.stderr and "training on" not in result.stderr
    assert not out.exists()


def test_train_prints_warnings_and_trains(tmp_path: Path) -> None:
    bot = _with_spare_response(tmp_path)
    out = tmp_path / "model.tar.gz"
    result = run_parley("train", str(bot), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"{bot}/domain.yml:6: warning: response 'utter_spare' is never used")
    assert result.stdout.strip() == str(out) and out.exists()


@pytest.mark.parametrize("bot", [REPO / "examples" / "support_bot", BOTS / "dialogue_bot"],
                         ids=lambda p: p.name)
def test_the_example_and_fixture_bots_train_cleanly(bot: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar.gz"
    result = run_parley("train", str(copy_bot(bot, tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "error" not in result.stderr
    assert out.exists()


def test_run_stops_on_the_same_errors_before_starting_anything(tmp_path: Path) -> None:
    bot = copy_bot(BOTS / "broken_rules_bot", tmp_path)
    started = time.monotonic()
    result = run_parley("run", str(bot), timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{bot}/{line}" for line in RULE_ERRORS] + [
        "parley: error: the bot's files have 4 errors (listed above)"]
    assert time.monotonic() - started < 12 and not (bot / "models").exists()


def test_run_prints_warnings_and_goes_on(tmp_path: Path, taken_port: int) -> None:
    """Past the warnings, the next step (the port check) is reached: they did not stop it."""
    bot = _with_spare_response(tmp_path)
    result = run_parley("run", str(bot), env={"PARLEY_PORT": str(taken_port)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bot}/domain.yml:6: warning: response 'utter_spare' is never used",
        f"parley: error: cannot listen on 127.0.0.1:{taken_port}: the port is already in use "
        "by another program; stop it, or set PARLEY_PORT to a free port"]


def test_validate_exits_1_on_warnings_only_when_asked(tmp_path: Path) -> None:
    bot = _with_spare_response(tmp_path)
    plain = run_parley("data", "validate", str(bot))
    assert plain.returncode == 0, plain.stdout
    assert plain.stdout.splitlines() == [
        f"{bot}/domain.yml:6: warning: response 'utter_spare' is never used",
        f"{bot}: 0 error(s), 1 warning(s) (warnings do not stop train or run)"]
    assert run_parley("data", "validate", str(bot), "--fail-on-warnings").returncode == 1
