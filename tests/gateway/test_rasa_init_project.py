"""The project ``rasa init`` writes (Rasa 3.6.21), copied unchanged: ``parley train``,
``parley test`` (its 7 test stories) and a ``parley shell`` conversation along the sad path,
all through the real command.

Rasa is not vendored: the test fetches the ``rasa`` wheel with pip (``pip download``, the
wheel only, for Python 3.10 since Rasa 3.6 does not install on 3.11) into pytest's cache
and skips, saying why, when the registry cannot be reached.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

RASA = "rasa==3.6.21"
WHEEL = "rasa-3.6.21-py3-none-any.whl"
PROJECT = "rasa/cli/initial_project/"


def _parley(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def _wheel(cache: Path) -> Path:
    wheel = cache / WHEEL
    if wheel.is_file():
        return wheel
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--python-version", "3.10",
         "--only-binary=:all:", "--disable-pip-version-check", "-d", str(cache), RASA],
        capture_output=True, text=True, timeout=240, check=False)
    if fetched.returncode != 0 or not wheel.is_file():
        reason = (fetched.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot fetch the {RASA} wheel with pip download: {reason}")
    return wheel


@pytest.fixture(scope="module")
def init_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Path:
    """The ``rasa init`` project, copied byte for byte from the wheel."""
    wheel = _wheel(request.config.cache.mkdir("rasa-wheel"))
    folder = tmp_path_factory.mktemp("rasa_init") / "bot"
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith(PROJECT) and not n.endswith("/")]
        for name in names:
            target = folder / name.removeprefix(PROJECT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    assert (folder / "data" / "stories.yml").is_file() and (folder / "config.yml").is_file()
    return folder


@pytest.fixture(scope="module")
def trained(init_project: Path) -> Path:
    result = _parley("train", str(init_project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
    # Stories use every response now: nothing is reported as unused.
    assert "never used" not in result.stderr, result.stderr
    return init_project


def test_parley_test_passes_all_seven_test_stories(trained: Path) -> None:
    result = _parley("test", str(trained))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "7 passed, 0 failed", result.stdout


def test_the_project_validates_without_conflicts(trained: Path) -> None:
    result = _parley("data", "validate", str(trained))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [f"{trained}: ok"]  # no warning, no notice


def test_a_shell_conversation_along_the_sad_path(trained: Path) -> None:
    lines = ["hello", "I am sad", "no", "/restart", "hi", "very sad", "yes"]
    result = _parley("shell", str(trained), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    replies = {}
    for line in result.stdout.splitlines():
        turn = json.loads(line)
        if "bot" in turn:
            replies.setdefault(turn["user"], []).append([m["text"] for m in turn["bot"]])
    assert replies["hello"] == [["Hey! How are you?"]]
    assert replies["I am sad"] == [["Here is something to cheer you up:", "Did that help you?"]]
    assert replies["no"] == [["Bye"]]
    assert replies["very sad"] == [["Here is something to cheer you up:", "Did that help you?"]]
    assert replies["yes"] == [["Great, carry on!"]]
