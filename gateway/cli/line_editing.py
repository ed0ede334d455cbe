"""Line editing and history for ``parley shell`` in a terminal, as in any REPL.

The stdlib ``readline`` is imported here only, and only by the interactive shell: importing
it when stdin is a pipe can write terminal escapes to stdout, which would corrupt the JSON
lines of piped mode. History lives in ``$XDG_STATE_HOME/parley/shell_history`` (by default
``~/.local/state/parley/shell_history``), keeps the last ``HISTORY_LENGTH`` lines, and is
a convenience only: when it cannot be read or written the shell works without it, silently.
Where ``readline`` is missing (Windows), the shell reads plain lines.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from types import ModuleType, TracebackType

__all__ = ["HISTORY_LENGTH", "LineEditor", "history_path"]

HISTORY_LENGTH = 1000
_log = logging.getLogger("parley.gateway.cli.shell")
_COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")


def history_path() -> Path:
    """Where the shell keeps its history (the XDG base-directory rule for state files: a
    relative ``XDG_STATE_HOME`` is ignored)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    root = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return root / "parley" / "shell_history"


class LineEditor:
    """Context manager: loads the history on entry, saves it on exit; ``read`` asks for a line.

    ``prompt`` may hold ANSI colour codes: GNU readline gets them marked as zero-width, so
    it knows where the cursor is when it redraws a recalled line; libedit gets them removed.
    """

    def __init__(self, prompt: str) -> None:
        self._readline = _import_readline()
        try:
            self._path: Path | None = history_path()
        except RuntimeError:  # no home directory to be found: no history
            self._path = None
        gnu = self._readline is not None and "libedit" not in (self._readline.__doc__ or "")
        self._prompt = (_COLOUR_CODE.sub(lambda code: f"\x01{code.group()}\x02", prompt)
                        if gnu else _COLOUR_CODE.sub("", prompt))

    def __enter__(self) -> LineEditor:
        if self._readline is not None and self._path is not None:
            self._readline.set_history_length(HISTORY_LENGTH)
            try:
                self._readline.read_history_file(self._path)
            except (OSError, UnicodeError) as exc:  # none yet, or unreadable: start empty
                _log.debug("shell history %s not read: %s", self._path, exc)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._readline is None or self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self._path)
        except (OSError, UnicodeError) as error:
            _log.debug("shell history %s not written: %s", self._path, error)

    def read(self) -> str:
        """The next line the user enters (``EOFError`` on Ctrl-D)."""
        return input(self._prompt)


def _import_readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:
        return None
    return readline

