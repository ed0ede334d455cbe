"""``parley test``, ``parley shell`` (piped) and ``parley data validate`` as a user runs them,
on a copy of the example bot with its demo orders service."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO

EXAMPLE = REPO / "examples" / "support_bot"


def _parley(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example bot whose first command trains its model."""
    copy = tmp_path_factory.mktemp("bot") / "support_bot"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("models", "reports",
                                                                 "__pycache__"))
    return copy


def test_every_example_story_passes(bot: Path) -> None:
    result = _parley("test", str(bot))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no model in" in result.stderr            # it trained first, as documented
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split()[0])
    assert passed >= 15 and summary.endswith("passed, 0 failed")


def test_a_failing_story_shows_expected_and_actual(bot: Path, tmp_path: Path) -> None:
    broken = tmp_path / "bot"
    shutil.copytree(bot, broken)
    (broken / "tests" / "stories.yml").write_text(
        "stories:\n- story: wrong\n  steps:\n  - user: hi\n  - action: utter_goodbye\n")
    result = _parley("test", str(broken))
    assert result.returncode == 1
    assert "FAIL wrong" in result.stdout
    assert "expected actions ['utter_goodbye'], got ['utter_greet']" in result.stdout


def test_piped_shell_prints_one_object_per_line(bot: Path) -> None:
    lines = ["where is my order ORD-55821", "/slots", "i want a refund", "/payload /cancel",
             "/restart", "hello"]
    result = _parley("shell", str(bot), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["user"] for o in out] == lines
    status = out[0]
    assert status["intent"] == "check_order_status" and status["confidence"] > 0.5
    assert "has shipped with DHL" in status["bot"][0]["text"]
    assert set(status) == {"user", "intent", "confidence", "bot", "slots", "active_form",
                           "handoff"}
    assert out[1]["slots"]["order_id"] == "ORD-55821"
    assert out[2]["active_form"] == "refund_form"
    assert out[3]["intent"] == "cancel" and out[3]["active_form"] is None
    assert out[4] == {"user": "/restart", "restarted": True}
    assert out[5]["slots"]["order_id"] is None and out[5]["bot"][0]["buttons"]


def test_validate_reports_defects_and_passes_the_example(bot: Path) -> None:
    good = _parley("data", "validate", str(bot))
    assert good.returncode == 0 and good.stdout.strip().endswith(": ok")
    bad = _parley("data", "validate", str(FIXTURES / "bots" / "defective_bot"))
    assert bad.returncode == 1 and "2 error(s), 3 warning(s)" in bad.stdout
    assert "domain.yml:17: warning: response 'utter_never_said' is never used" in bad.stdout


def test_a_bad_orders_url_is_one_clear_line(bot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ORDERS_URL", "not a url")
    result = _parley("shell", str(bot), stdin="hi\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "PARLEY_ORDERS_URL must be an http(s) URL" in result.stderr
