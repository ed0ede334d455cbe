"""``parley shell`` in a real terminal (a pseudo-terminal): line editing and history.

The echo fixture bot answers every message with ``echo: '<text as received>'`` (repr), so
what reached the bot is visible, stray escape bytes included.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO

ECHO_BOT = FIXTURES / "bots" / "echo_bot"
UP = "\x1b[A"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x01\x02]")


@pytest.fixture(scope="module")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("echo_model") / "echo.tar.gz"
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "train", str(ECHO_BOT),
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    return out


class Terminal:
    """``parley shell`` with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, model: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "shell", str(ECHO_BOT), "--model", str(model)],
            cwd=REPO, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.output = ""

    def read_until(self, pattern: str, timeout: float = 60) -> str:
        """Read until ``pattern`` (a regex) appears in the output (escapes removed) after what
        earlier calls consumed; return the text up to and including it."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.plain())
            if match:
                seen, self.output = self.plain()[:match.end()], self.plain()[match.end():]
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in the terminal:\n{self.plain()}")
            if self._ready(min(left, 0.2)):
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the shell has exited and closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the shell ended without {pattern!r}:\n{self.plain()}")
                self.output += chunk.decode("utf-8", "replace")

    def _ready(self, timeout: float) -> bool:
        return bool(select.select([self.master], [], [], timeout)[0])

    def plain(self) -> str:
        return _ANSI.sub("", self.output).replace("\r", "")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.master < 0:
            return
        if self.process.poll() is None:
            self.type("\x04")  # Ctrl-D on an empty line: the shell quits
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.master)
        self.master = -1


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARLEY_", "XDG_")) and k not in ("INPUTRC", "HOME")}
    return {**env, "HOME": str(home), "TERM": "xterm", "INPUTRC": os.devnull, **extra}


@pytest.fixture
def terminal(echo_model: Path, home: Path) -> Iterator[Terminal]:
    shell = Terminal(echo_model, _env(home))
    yield shell
    shell.close()


def test_up_arrow_sends_the_previous_message_again(terminal: Terminal, home: Path) -> None:
    terminal.read_until(r"you> ")
    terminal.type("hello there\r")
    assert "echo: 'hello there'" in terminal.read_until(r"you> ")
    terminal.type(UP + "\r")
    again = terminal.read_until(r"you> ")
    assert "echo: 'hello there'" in again
    assert "\\x1b" not in again and "^[[A" not in again and "echo: '[A'" not in again
    terminal.type("how does this work\r")
    terminal.read_until(r"you> ")
    terminal.close()
    assert terminal.process.returncode == 0
    history = home / ".local" / "state" / "parley" / "shell_history"
    lines = history.read_text().splitlines()
    assert lines == ["hello there", "how does this work"]  # a repeat is kept once, as in Python


def test_brackets_in_a_bot_message_are_shown_as_text(terminal: Terminal) -> None:
    terminal.read_until(r"you> ")
    terminal.type("[/bold] and [red]this[/red]\r")  # rich markup, or a MarkupError if unescaped
    assert "echo: '[/bold] and [red]this[/red]'" in terminal.read_until(r"you> ")


def test_history_survives_a_restart(echo_model: Path, home: Path) -> None:
    state = home / "state"
    first = Terminal(echo_model, _env(home, XDG_STATE_HOME=str(state)))
    try:
        first.read_until(r"you> ")
        first.type("why is the sky blue\r")
        first.read_until(r"you> ")
    finally:
        first.close()
    assert (state / "parley" / "shell_history").read_text().splitlines() == [
        "why is the sky blue"]
    second = Terminal(echo_model, _env(home, XDG_STATE_HOME=str(state)))
    try:
        second.read_until(r"you> ")
        second.type(UP + "\r")
        assert "echo: 'why is the sky blue'" in second.read_until(r"you> ")
    finally:
        second.close()


def test_an_unusable_history_file_is_ignored(echo_model: Path, home: Path) -> None:
    blocker = home / "not_a_folder"
    home.mkdir(exist_ok=True)
    blocker.write_text("a file where the state folder should be\n")
    shell = Terminal(echo_model, _env(home, XDG_STATE_HOME=str(blocker)))
    try:
        shell.read_until(r"you> ")
        shell.type("hello there\r")
        assert "echo: 'hello there'" in shell.read_until(r"you> ")
        shell.type(UP + "\r")  # editing still works, for this session
        assert "echo: 'hello there'" in shell.read_until(r"you> ")
    finally:
        shell.close()
    assert shell.process.returncode == 0
    assert "Traceback" not in shell.plain() and "Error" not in shell.plain()


def test_piped_mode_neither_edits_nor_keeps_history(echo_model: Path, home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "shell", str(ECHO_BOT), "--model", str(echo_model)],
        cwd=REPO, env=_env(home), input=f"hello there\n{UP}\n", capture_output=True, text=True,
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.startswith("{") for line in lines] == [True, True]  # no escapes on stdout
    assert '"user": "\\u001b[A"' in lines[1]  # piped input reaches the bot as it is
    assert not (home / ".local").exists()
